const { describe, it } = require('node:test');
const assert = require('node:assert');

describe('strings', () => {
  it('concatenates', () => {
    assert.strictEqual('a' + 'b', 'ab');
  });

  it('upper-cases wrongly', () => {
    assert.strictEqual('a'.toUpperCase(), 'B');
  });
});
