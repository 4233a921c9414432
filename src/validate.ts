// Option validation with Node's error codes, before anything crosses into
// native code (which still checks types and never crashes on bad input).
import { invalidArgType, invalidArgValue, outOfRange } from './errors';

export function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

export function validateBoolean(v: unknown, name: string): asserts v is boolean {
  if (typeof v !== 'boolean') throw invalidArgType(name, 'of type boolean', v);
}

export function validateString(v: unknown, name: string): asserts v is string {
  if (typeof v !== 'string') throw invalidArgType(name, 'of type string', v);
}

export function validateFunction(v: unknown, name: string): asserts v is (...args: never[]) => unknown {
  if (typeof v !== 'function') throw invalidArgType(name, 'of type function', v);
}

export function validateObject(v: unknown, name: string): asserts v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidArgType(name, 'of type object', v);
}

export function validateInteger(v: unknown, name: string, min: number, max: number): asserts v is number {
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isInteger(v)) throw outOfRange(name, 'an integer', v);
  if (v < min || v > max) throw outOfRange(name, `>= ${min} && <= ${max}`, v);
}

export function validateStringOrBytes(v: unknown, name: string): asserts v is string | Uint8Array {
  if (typeof v !== 'string' && !isBytes(v)) throw invalidArgType(name, 'of type string or an instance of Buffer or Uint8Array', v);
}

export function validateOneOf<T extends string>(v: unknown, name: string, allowed: readonly T[]): asserts v is T {
  if (typeof v !== 'string') throw invalidArgType(name, 'of type string', v);
  if (!(allowed as readonly string[]).includes(v)) {
    throw invalidArgValue(name, v, `must be one of: ${allowed.map((a) => `'${a}'`).join(', ')}`);
  }
}

export function toBuffer(v: Uint8Array | string): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (Buffer.isBuffer(v)) return v;
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}
