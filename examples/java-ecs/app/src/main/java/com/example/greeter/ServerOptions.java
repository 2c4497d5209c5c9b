package com.example.greeter;

import java.util.Map;

/**
 * How the service is started: the port it listens on, from {@code --port N} (or
 * {@code --port=N}), else the {@code PORT} environment variable, else {@link #DEFAULT_PORT}.
 *
 * @author flowplan examples
 */
public final class ServerOptions {

    /**
     * The port when neither the arguments nor the environment name one.
     */
    public static final int DEFAULT_PORT = 8080;

    /**
     * The environment variable naming the port.
     */
    public static final String PORT_VARIABLE = "PORT";

    /**
     * The command-line option naming the port.
     */
    public static final String PORT_OPTION = "--port";

    private static final String OPTION_VALUE_SEPARATOR = "=";

    private static final int MIN_PORT = 0;

    private static final int MAX_PORT = 65535;

    private final int port;

    private ServerOptions(int port) {
        this.port = port;
    }

    /**
     * The options given by the command line and the environment; the command line wins.
     *
     * @param args the program's arguments
     * @param environment the process environment, e.g. {@link System#getenv()}
     * @return the options
     * @throws IllegalArgumentException for an unknown argument or a port that is not a number
     *     from 0 to 65535 (0: any free port)
     */
    public static ServerOptions parse(String[] args, Map<String, String> environment) {
        String port = environment.get(PORT_VARIABLE);
        String source = PORT_VARIABLE;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (PORT_OPTION.equals(arg)) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException(PORT_OPTION + " needs a value");
                }
                i++;
                port = args[i];
                source = PORT_OPTION;
            } else if (arg.startsWith(PORT_OPTION + OPTION_VALUE_SEPARATOR)) {
                port = arg.substring(PORT_OPTION.length() + 1);
                source = PORT_OPTION;
            } else {
                throw new IllegalArgumentException("unknown argument: " + arg
                        + " (usage: java -jar greeter.jar [--port N])");
            }
        }
        if (port == null || port.isBlank()) {
            return new ServerOptions(DEFAULT_PORT);
        }
        return new ServerOptions(portNumber(port.strip(), source));
    }

    private static int portNumber(String text, String source) {
        int number;
        try {
            number = Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(source + " is not a port number: " + text, e);
        }
        if (number < MIN_PORT || number > MAX_PORT) {
            throw new IllegalArgumentException(source + " is out of range (" + MIN_PORT + "-"
                    + MAX_PORT + "): " + text);
        }
        return number;
    }

    /**
     * The port to listen on.
     *
     * @return a port number, 0 for any free port
     */
    public int getPort() {
        return port;
    }

    @Override
    public String toString() {
        return "ServerOptions{port=" + port + "}";
    }
}
