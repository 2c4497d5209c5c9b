package com.example.greeter;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;

import java.io.IOException;

/**
 * {@code GET /health}: 200 {@code ok} while the service serves requests. Deploy scripts and load
 * balancers poll it.
 *
 * @author flowplan examples
 */
public final class HealthHandler implements HttpHandler {

    /**
     * The path this handler serves.
     */
    public static final String PATH = "/health";

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
        PlainTextResponse.send(exchange, PlainTextResponse.OK, "ok\n");
    }
}
