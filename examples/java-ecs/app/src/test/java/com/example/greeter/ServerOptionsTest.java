package com.example.greeter;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where the port comes from.
 *
 * @author flowplan examples
 */
class ServerOptionsTest {

    private static final String[] NO_ARGS = new String[0];

    @Test
    void listensOnTheDefaultPortWhenNothingNamesOne() {
        assertEquals(ServerOptions.DEFAULT_PORT, ServerOptions.parse(NO_ARGS, Map.of()).getPort());
    }

    @Test
    void takesThePortFromTheEnvironment() {
        assertEquals(18080, ServerOptions.parse(NO_ARGS, Map.of("PORT", "18080")).getPort());
    }

    @Test
    void theCommandLineWinsOverTheEnvironment() {
        Map<String, String> environment = Map.of("PORT", "18080");
        assertEquals(9000, ServerOptions.parse(new String[] {"--port", "9000"}, environment)
                .getPort());
        assertEquals(9001, ServerOptions.parse(new String[] {"--port=9001"}, environment)
                .getPort());
    }

    @Test
    void refusesPortsThatAreNotPortNumbers() {
        IllegalArgumentException notNumber = assertThrows(IllegalArgumentException.class,
                () -> ServerOptions.parse(NO_ARGS, Map.of("PORT", "http")));
        assertTrue(notNumber.getMessage().contains("PORT is not a port number: http"),
                notNumber.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> ServerOptions.parse(new String[] {"--port", "70000"}, Map.of()));
        assertThrows(IllegalArgumentException.class,
                () -> ServerOptions.parse(new String[] {"--port"}, Map.of()));
        assertThrows(IllegalArgumentException.class,
                () -> ServerOptions.parse(new String[] {"--verbose"}, Map.of()));
    }
}
