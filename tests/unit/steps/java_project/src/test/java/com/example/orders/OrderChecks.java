package com.example.orders;

import org.junit.jupiter.api.Test;

/**
 * Checks orders.
 *
 * @author flowplan
 */
class OrderChecks {
    @Test
    void placesAnOrder() {
        new Thread(() -> { }).start();
    }
}
