// Stands for a test runner with a JUnit reporter of its own (jest-junit, mocha-junit-reporter):
// writes reports/junit.xml and fails, as such a runner does when a test fails.
const fs = require('node:fs');
fs.mkdirSync('reports', { recursive: true });
fs.writeFileSync('reports/junit.xml', `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="custom tests" tests="2" failures="1">
  <testsuite name="checkout.test.js" tests="2" failures="1" time="0.5">
    <testcase classname="checkout totals" name="adds tax" time="0.2"/>
    <testcase classname="checkout totals" name="rounds" time="0.3">
      <failure message="expected 10.01 to equal 10">AssertionError: expected 10.01 to equal 10
    at Context.it (checkout.test.js:12:5)</failure>
    </testcase>
  </testsuite>
</testsuites>
`);
console.log('1 of 2 tests failed');
process.exit(1);
