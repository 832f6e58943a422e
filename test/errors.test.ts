/** Which backend failures reach clients as retryable `unavailable` rather than `internal`. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import cassandra from 'cassandra-driver';
import { isTransientBackendError } from '../src/errors.ts';

const { errors, types } = cassandra;

describe('isTransientBackendError', () => {
  it("recognises cassandra-driver's overload, timeout and no-host errors", () => {
    assert.equal(isTransientBackendError(new errors.NoHostAvailableError({})), true);
    assert.equal(isTransientBackendError(new errors.OperationTimedOutError('timed out')), true);
    assert.equal(isTransientBackendError(new errors.BusyConnectionError('127.0.0.1:9042', 2048, 1)), true);
    const overloaded = new errors.ResponseError(types.responseErrorCodes.overloaded, 'overloaded');
    const writeTimeout = new errors.ResponseError(types.responseErrorCodes.writeTimeout, 'write timeout');
    assert.equal(isTransientBackendError(overloaded), true);
    assert.equal(isTransientBackendError(writeTimeout), true);
  });

  it('leaves bad requests and our own faults as they are', () => {
    const syntax = new errors.ResponseError(
      types.responseErrorCodes.syntaxError,
      'line 1: no viable alternative',
    );
    assert.equal(isTransientBackendError(syntax), false);
    assert.equal(
      isTransientBackendError(new TypeError("Cannot read properties of undefined (reading 'id')")),
      false,
    );
    assert.equal(isTransientBackendError('a string'), false);
    assert.equal(isTransientBackendError(null), false);
  });

  it("recognises ioredis's closed-connection errors", () => {
    assert.equal(isTransientBackendError(new Error('Connection is closed.')), true);
    const maxRetries = new Error('Reached the max retries per request limit');
    maxRetries.name = 'MaxRetriesPerRequestError';
    assert.equal(isTransientBackendError(maxRetries), true);
  });
});
