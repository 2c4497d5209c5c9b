package com.example.greeter;

import com.sun.net.httpserver.HttpExchange;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Writes a plain-text answer and closes the exchange.
 *
 * @author flowplan examples
 */
public final class PlainTextResponse {

    /**
     * 200: the request was served.
     */
    public static final int OK = 200;

    /**
     * 404: no such path.
     */
    public static final int NOT_FOUND = 404;

    /**
     * 405: the path exists but not for this method.
     */
    public static final int METHOD_NOT_ALLOWED = 405;

    private static final String CONTENT_TYPE = "text/plain; charset=utf-8";

    private static final String HEAD = "HEAD";

    private PlainTextResponse() {
    }

    /**
     * Send {@code body} with {@code status}; a HEAD request gets the headers only.
     *
     * @param exchange the request being answered
     * @param status the HTTP status code
     * @param body the text of the answer
     * @throws IOException when the client went away
     */
    public static void send(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        try (exchange) {
            exchange.getResponseHeaders().set("Content-Type", CONTENT_TYPE);
            if (HEAD.equals(exchange.getRequestMethod())) {
                exchange.sendResponseHeaders(status, -1);
                return;
            }
            exchange.sendResponseHeaders(status, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
    }
}
