package com.example.greeter;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * A test that fails on request, so a pipeline can show how a failing test is reported:
 * {@code mvn test -DGREETER_FAIL_TEST=true} (a system property of the test JVM), or the
 * environment variable {@code GREETER_FAIL_TEST=true}. Any other value, or none, passes.
 *
 * @author flowplan examples
 */
class PipelineDemoTest {

    private static final String SWITCH = "GREETER_FAIL_TEST";

    @Test
    void failsOnlyWhenGreeterFailTestIsTrue() {
        String requested = System.getProperty(SWITCH, System.getenv(SWITCH));
        assertNotEquals("true", requested,
                SWITCH + "=true: this test fails on purpose, to show a failing test in the report");
    }
}
