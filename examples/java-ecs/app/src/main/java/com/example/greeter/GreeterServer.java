package com.example.greeter;

import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The service: the JDK's HTTP server with {@link GreetHandler} and {@link HealthHandler},
 * handling requests on a bounded thread pool (when it is full, the server's own thread handles
 * the request, which slows accepting down instead of queueing without end).
 *
 * @author flowplan examples
 */
public final class GreeterServer {

    private static final int CORE_THREADS = 2;

    private static final int MAX_THREADS = 8;

    private static final long KEEP_ALIVE_SECONDS = 30L;

    private static final int QUEUE_CAPACITY = 100;

    private static final int BACKLOG = 50;

    private static final int STOP_DELAY_SECONDS = 1;

    private static final long POOL_STOP_SECONDS = 5L;

    private final HttpServer server;

    private final ThreadPoolExecutor executor;

    private GreeterServer(HttpServer server, ThreadPoolExecutor executor) {
        this.server = server;
        this.executor = executor;
    }

    /**
     * Bind the port and start serving.
     *
     * @param port the port, on every interface; 0 for any free port
     * @return the running server
     * @throws IOException when the port cannot be bound
     */
    public static GreeterServer start(int port) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(port), BACKLOG);
        ThreadPoolExecutor executor = new ThreadPoolExecutor(CORE_THREADS, MAX_THREADS,
                KEEP_ALIVE_SECONDS, TimeUnit.SECONDS, new ArrayBlockingQueue<>(QUEUE_CAPACITY),
                new NamedThreadFactory("greeter-http"), new ThreadPoolExecutor.CallerRunsPolicy());
        server.createContext(GreetHandler.PATH, new GreetHandler());
        server.createContext(HealthHandler.PATH, new HealthHandler());
        server.setExecutor(executor);
        server.start();
        return new GreeterServer(server, executor);
    }

    /**
     * The port the server listens on (the one chosen when started with 0).
     *
     * @return the bound port
     */
    public int port() {
        return server.getAddress().getPort();
    }

    /**
     * Stop accepting, let the requests in progress finish (up to a second), then stop the pool.
     */
    public void stop() {
        server.stop(STOP_DELAY_SECONDS);
        executor.shutdown();
        try {
            if (!executor.awaitTermination(POOL_STOP_SECONDS, TimeUnit.SECONDS)) {
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
