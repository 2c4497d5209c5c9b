package demo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class HelloServiceTest {
    @Test
    void greetsByName() {
        assertEquals("Hello, Ada!", HelloService.greeting("name=Ada"));
    }

    @Test
    void greetsTheWorldWithoutAName() {
        assertEquals("Hello, world!", HelloService.greeting(null));
    }
}
