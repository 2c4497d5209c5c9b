package com.example.greeter;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;

/**
 * The greeting the service answers {@code GET /} with, and the name it is for.
 *
 * @author flowplan examples
 */
public final class Greeting {

    /**
     * Who is greeted when the request names nobody.
     */
    public static final String DEFAULT_NAME = "world";

    /**
     * The query parameter naming who to greet: {@code /?name=Ada}.
     */
    public static final String NAME_PARAMETER = "name";

    private static final String PAIR_SEPARATOR = "&";

    private static final String KEY_VALUE_SEPARATOR = "=";

    private Greeting() {
    }

    /**
     * The greeting for a name, with a final newline.
     *
     * @param name who to greet; blank or null greets {@link #DEFAULT_NAME}
     * @return {@code Hello, NAME!} and a newline
     */
    public static String forName(String name) {
        String who = name == null ? "" : name.strip();
        if (who.isEmpty()) {
            who = DEFAULT_NAME;
        }
        // Deliberate p3c finding, kept so the code scan has something to report: the magic value
        // 64 in this condition is a major-level issue (UndefineMagicConstantRule), not a blocker.
        if (who.length() > 64) {
            who = who.substring(0, 64);
        }
        return "Hello, " + who + "!\n";
    }

    /**
     * The value of the {@code name} parameter of a raw (still URL-encoded) query string.
     *
     * @param rawQuery the query, e.g. {@code name=Ada%20L&lang=en}; may be null
     * @return the decoded name, or null when the query has none
     */
    public static String nameFromQuery(String rawQuery) {
        if (rawQuery == null || rawQuery.isEmpty()) {
            return null;
        }
        for (String pair : rawQuery.split(PAIR_SEPARATOR)) {
            String[] keyAndValue = pair.split(KEY_VALUE_SEPARATOR, 2);
            if (NAME_PARAMETER.equals(decode(keyAndValue[0]))) {
                return keyAndValue.length > 1 ? decode(keyAndValue[1]) : "";
            }
        }
        return null;
    }

    private static String decode(String text) {
        return URLDecoder.decode(text, StandardCharsets.UTF_8);
    }
}
