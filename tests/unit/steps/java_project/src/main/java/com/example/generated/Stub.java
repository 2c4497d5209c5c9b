package com.example.generated;

public class stub_generated {
}
