const { describe, it } = require('node:test');
const assert = require('node:assert');
const { greet } = require('../src/greet');

describe('greet', () => {
  it('greets by name', () => {
    assert.strictEqual(greet(' Ada '), 'Hello, Ada!');
  });

  it('greets the world without a name', () => {
    assert.strictEqual(greet(''), 'Hello, world!');
  });
});
