package com.example.greeter;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;

import java.io.IOException;

/**
 * {@code GET /}: {@code Hello, world!}, or {@code Hello, NAME!} for {@code /?name=NAME}.
 * Any other path under {@code /} is 404, any other method 405.
 *
 * @author flowplan examples
 */
public final class GreetHandler implements HttpHandler {

    /**
     * The path this handler serves.
     */
    public static final String PATH = "/";

    @Override
    public void handle(HttpExchange exchange) throws IOException {
        if (!PATH.equals(exchange.getRequestURI().getPath())) {
            PlainTextResponse.send(exchange, PlainTextResponse.NOT_FOUND, "not found\n");
            return;
        }
        if (!Methods.isReadOnly(exchange.getRequestMethod())) {
            exchange.getResponseHeaders().set("Allow", Methods.ALLOWED);
            PlainTextResponse.send(exchange, PlainTextResponse.METHOD_NOT_ALLOWED,
                    "method not allowed\n");
            return;
        }
        String name = Greeting.nameFromQuery(exchange.getRequestURI().getRawQuery());
        PlainTextResponse.send(exchange, PlainTextResponse.OK, Greeting.forName(name));
    }
}
