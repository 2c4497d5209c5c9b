package com.example.orders;

/**
 * Orders as values.
 *
 * @author flowplan
 */
public final class Orders {
    private static final int LIMIT = 10;

    private Orders() {
    }

    /**
     * How many orders fit.
     */
    public static int capacity(int wanted) {
        if (wanted > LIMIT) {
            return LIMIT;
        }
        return wanted;
    }
}
