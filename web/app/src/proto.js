// The wire contract: generated at build time from proto/tanfang.proto itself
// by protobufjs's pbjs (static code: no eval, so the strict CSP holds), so
// the app and the daemon can never disagree on a field.
import { tanfang } from './gen/tanfang.js';

const v1 = tanfang.v1;
export const Request = v1.Request;
export const Envelope = v1.Envelope;
export const Reply = v1.Reply;
export const ImportElders = v1.ImportElders;
export const ImportVisitors = v1.ImportVisitors;

// A decoded message as plain data: 64-bit numbers as numbers (Unix times
// and counts fit), enums as their names, bytes as Uint8Array.
export function plain(type, msg) {
  return type.toObject(msg, { longs: Number, enums: String, defaults: true, arrays: true });
}
