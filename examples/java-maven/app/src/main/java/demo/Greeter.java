package demo;

public final class Greeter {
    public String greet(String name) {
        return "Hello, " + (name == null || name.isBlank() ? "world" : name.strip()) + "!";
    }

    public static void main(String[] args) {
        System.out.println(new Greeter().greet(args.length > 0 ? args[0] : null));
    }
}
