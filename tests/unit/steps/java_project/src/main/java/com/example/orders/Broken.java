package com.example.orders;

/**
 * Half written.
 *
 * @author flowplan
 */
public class Broken {
    public void unfinished( {
        long total = 5l;
