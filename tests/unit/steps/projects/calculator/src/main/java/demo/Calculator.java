package demo;

public final class Calculator {
    public int add(int a, int b) { return a + b; }
}
