package com.example.greeter;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The running service, on a free port (one server for the class: stopping one takes a
 * second).
 *
 * @author flowplan examples
 */
class GreeterServerTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private static GreeterServer server;

    private final HttpClient client = HttpClient.newBuilder().connectTimeout(TIMEOUT).build();

    @BeforeAll
    static void startServer() throws IOException {
        server = GreeterServer.start(0);
    }

    @AfterAll
    static void stopServer() {
        server.stop();
    }

    private HttpResponse<String> send(String method, String path)
            throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + server.port() + path))
                .timeout(TIMEOUT)
                .method(method, HttpRequest.BodyPublishers.noBody())
                .build();
        return client.send(request, HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void greetsOnTheRootPath() throws Exception {
        HttpResponse<String> response = send("GET", "/?name=Ada");
        assertEquals(200, response.statusCode());
        assertEquals("Hello, Ada!\n", response.body());
        assertEquals("text/plain; charset=utf-8",
                response.headers().firstValue("Content-Type").orElse(""));
    }

    @Test
    void answersHealthChecks() throws Exception {
        HttpResponse<String> response = send("GET", "/health");
        assertEquals(200, response.statusCode());
        assertEquals("ok\n", response.body());
    }

    @Test
    void refusesWritesAndUnknownPaths() throws Exception {
        HttpResponse<String> post = send("POST", "/");
        assertEquals(405, post.statusCode());
        assertEquals("GET, HEAD", post.headers().firstValue("Allow").orElse(""));
        assertEquals(404, send("GET", "/nope").statusCode());
        assertEquals(404, send("GET", "/health/deep").statusCode());
    }
}
