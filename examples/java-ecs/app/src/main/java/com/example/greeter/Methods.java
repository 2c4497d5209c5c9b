package com.example.greeter;

/**
 * The HTTP methods the service answers: it only reads.
 *
 * @author flowplan examples
 */
public final class Methods {

    /**
     * The value of the {@code Allow} header of a 405 answer.
     */
    public static final String ALLOWED = "GET, HEAD";

    private static final String GET = "GET";

    private static final String HEAD = "HEAD";

    private Methods() {
    }

    /**
     * Whether a request with this method is served.
     *
     * @param method the request's method, e.g. {@code GET}
     * @return true for GET and HEAD
     */
    public static boolean isReadOnly(String method) {
        return GET.equals(method) || HEAD.equals(method);
    }
}
