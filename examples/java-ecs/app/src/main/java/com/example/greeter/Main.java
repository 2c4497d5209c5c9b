package com.example.greeter;

import java.io.IOException;

/**
 * {@code java -jar greeter-1.0.jar [--port N]}: serve until SIGTERM (or Ctrl-C), then stop
 * gracefully. The port comes from {@code --port}, else {@code PORT}, else 8080.
 *
 * @author flowplan examples
 */
public final class Main {

    private static final int USAGE_ERROR = 2;

    private static final int CANNOT_START = 1;

    private Main() {
    }

    /**
     * Start the service.
     *
     * @param args {@code --port N}, optionally
     */
    public static void main(String[] args) {
        ServerOptions options;
        try {
            options = ServerOptions.parse(args, System.getenv());
        } catch (IllegalArgumentException e) {
            System.err.println("greeter: " + e.getMessage());
            System.exit(USAGE_ERROR);
            return;
        }
        GreeterServer server;
        try {
            server = GreeterServer.start(options.getPort());
        } catch (IOException e) {
            System.err.println("greeter: cannot listen on port " + options.getPort() + ": " + e);
            System.exit(CANNOT_START);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("greeter: stopping");
            server.stop();
            System.out.println("greeter: stopped");
        }, "greeter-shutdown"));
        System.out.println("greeter: listening on port " + server.port());
    }
}
