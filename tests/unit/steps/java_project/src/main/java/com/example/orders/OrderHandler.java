package com.example.orders;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Handles orders, badly.
 */
public class OrderHandler implements OrderService {
    private static final int max_orders = 100;
    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final Map<String, Integer> totals = new HashMap<>();

    @Override
    public long place(String customer, int amount) {
        if (customer.equals("anonymous"))
            return -1;
        Integer before = totals.get(customer);
        Integer after = amount;
        if (before == after) {
            return 0L;
        }
        List<String> pending = new ArrayList<>(max_orders);
        for (String order : pending) {
            pending.remove(order);
        }
        return 1L;
    }

    void stop() {
        System.exit(2);
    }
}
