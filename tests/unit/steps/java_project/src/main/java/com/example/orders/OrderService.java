package com.example.orders;

/**
 * Places orders.
 *
 * @author flowplan
 */
public interface OrderService {
    /**
     * Places an order and says its number.
     */
    long place(String customer, int amount);
}
