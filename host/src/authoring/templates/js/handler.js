// {{name}}: greets each `user.signed_up` event with a `greeting.sent` event.

import { get as configGet } from "weir:plugin/config@0.1.0";
import { log } from "weir:plugin/log@0.1.0";
import { get as stateGet, set as stateSet } from "weir:plugin/state@0.1.0";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const handler = {
  // Returns an outcome: { tag: "ack" }, { tag: "emit", val: [events] },
  // { tag: "retry-later", val: ms } or { tag: "fail", val: reason }.
  handle(event) {
    const data = JSON.parse(decoder.decode(event.data));
    if (typeof data?.name !== "string") return { tag: "fail", val: "missing field name" };
    const word = configGet("greeting") ?? "Hello";
    const key = `greeted:${data.name}`;
    const stored = stateGet(key);
    const times = (stored === undefined ? 0 : JSON.parse(decoder.decode(stored))) + 1;
    stateSet(key, encoder.encode(JSON.stringify(times)));
    log("info", "", `greeting ${data.name} (time ${times})`);
    const greeting = { greeting: `${word}, ${data.name}!`, times };
    return {
      tag: "emit",
      val: [{
        type: "greeting.sent",
        datacontenttype: "application/json",
        data: encoder.encode(JSON.stringify(greeting)),
        extensions: [],
      }],
    };
  },
};
