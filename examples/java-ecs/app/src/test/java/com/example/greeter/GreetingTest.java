package com.example.greeter;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The greeting and the name it is for.
 *
 * @author flowplan examples
 */
class GreetingTest {

    @Test
    void greetsTheWorldWhenNobodyIsNamed() {
        assertEquals("Hello, world!\n", Greeting.forName(null));
        assertEquals("Hello, world!\n", Greeting.forName("   "));
    }

    @Test
    void greetsTheNamedPersonWithoutSurroundingBlanks() {
        assertEquals("Hello, Ada!\n", Greeting.forName("  Ada "));
    }

    @Test
    void cutsVeryLongNames() {
        String greeting = Greeting.forName("x".repeat(1000));
        assertEquals("Hello, " + "x".repeat(64) + "!\n", greeting);
    }

    @Test
    void readsTheDecodedNameFromTheQuery() {
        assertEquals("Ada Lovelace", Greeting.nameFromQuery("lang=en&name=Ada%20Lovelace"));
        assertEquals("", Greeting.nameFromQuery("name"));
        assertNull(Greeting.nameFromQuery("lang=en"));
        assertNull(Greeting.nameFromQuery(null));
    }

    @Test
    @Disabled("greetings in other languages are not written yet: this test is reported as skipped")
    void greetsInTheRequestedLanguage() {
        assertEquals("Bonjour, Ada!\n", Greeting.forName("Ada"));
    }
}
