package com.example.greeter;

import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Threads named {@code PREFIX-N}, so a thread dump says whose they are.
 *
 * @author flowplan examples
 */
public final class NamedThreadFactory implements ThreadFactory {

    private final String prefix;

    private final AtomicInteger count = new AtomicInteger();

    /**
     * A factory of threads named after a prefix.
     *
     * @param prefix the first part of every thread's name
     */
    public NamedThreadFactory(String prefix) {
        this.prefix = prefix;
    }

    @Override
    public Thread newThread(Runnable task) {
        Thread thread = new Thread(task, prefix + "-" + count.incrementAndGet());
        thread.setDaemon(false);
        return thread;
    }
}
