/**
 * One read buffer for every upstream socket of this thread. Upstream sockets read with Node's
 * `onread` option into this memory instead of getting a fresh Buffer per read through their
 * Readable stream: no 64 KiB allocation, no stream push, no 'data' event per read (measured in
 * benchmarks/: the upstream read is on every request's and every relayed message's path).
 *
 * The price is a rule every reader keeps: the bytes are valid only during the read callback.
 * Whatever must outlive it (a partial head, a fragment, a chunk a client cannot take yet) is
 * copied. Reads never nest, so one buffer serves all sockets.
 */
import type net from 'node:net';

const SIZE = 64 * 1024;
const buffer = Buffer.allocUnsafeSlow(SIZE);

/** The `onread` option for a socket whose reads go to `deliver` (a view of `n` bytes). */
export function sharedRead(deliver: (data: Buffer) => void): net.OnReadOpts {
  return {
    buffer,
    callback: (n: number): boolean => {
      deliver(buffer.subarray(0, n));
      return true;
    },
  };
}
