// A JSON syntax check in mJS, run before JSON.parse: on a board JSON.parse of bad input is
// an uncaught error that silently aborts the MQTT callback (mJS has no try). It accepts only
// printable ASCII (payloads the agent answers with JSON.stringify must stay ASCII) and a
// bounded nesting depth. State travels in the object p, never in a closure.
let FleetJson = {
  // true when s is exactly one JSON value, ASCII only, nested at most maxDepth deep
  valid: function(s, maxDepth) {
    if (typeof s !== 'string') return false;
    let p = { s: s, i: 0, n: s.length, depth: 0, max: maxDepth };
    FleetJson._ws(p);
    if (!FleetJson._value(p)) return false;
    FleetJson._ws(p);
    return p.i === p.n;
  },
  _ws: function(p) {
    while (p.i < p.n) {
      let c = p.s.at(p.i);
      if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return;
      p.i = p.i + 1;
    }
  },
  _lit: function(p, word) {
    if (p.s.slice(p.i, p.i + word.length) !== word) return false;
    p.i = p.i + word.length;
    return true;
  },
  _digit: function(c) {
    return c >= 48 && c <= 57;
  },
  _hex: function(c) {
    return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
  },
  _value: function(p) {
    if (p.i >= p.n) return false;
    let c = p.s.at(p.i);
    if (c === 123) return FleetJson._object(p);
    if (c === 91) return FleetJson._array(p);
    if (c === 34) return FleetJson._string(p);
    if (c === 116) return FleetJson._lit(p, 'true');
    if (c === 102) return FleetJson._lit(p, 'false');
    if (c === 110) return FleetJson._lit(p, 'null');
    return FleetJson._number(p);
  },
  _string: function(p) {
    p.i = p.i + 1;
    while (p.i < p.n) {
      let c = p.s.at(p.i);
      if (c === 34) {
        p.i = p.i + 1;
        return true;
      }
      if (c < 32 || c > 126) return false;
      if (c === 92) {
        p.i = p.i + 1;
        if (p.i >= p.n) return false;
        let e = p.s.at(p.i);
        if (e === 117) {
          // only \u0020..\u007e: anything else would put a non-ASCII or control byte in a string
          if (p.i + 4 >= p.n) return false;
          if (p.s.at(p.i + 1) !== 48 || p.s.at(p.i + 2) !== 48) return false;
          let h = p.s.at(p.i + 3);
          if (h < 50 || h > 55 || !FleetJson._hex(p.s.at(p.i + 4))) return false;
          if (h === 55 && (p.s.at(p.i + 4) === 70 || p.s.at(p.i + 4) === 102)) return false;
          p.i = p.i + 4;
        } else if (e !== 34 && e !== 92 && e !== 47 && e !== 98 && e !== 102 && e !== 110 && e !== 114 && e !== 116) {
          return false;
        }
      }
      p.i = p.i + 1;
    }
    return false;
  },
  _digits: function(p) {
    let start = p.i;
    while (p.i < p.n && FleetJson._digit(p.s.at(p.i))) p.i = p.i + 1;
    return p.i > start;
  },
  _number: function(p) {
    if (p.s.at(p.i) === 45) p.i = p.i + 1;
    if (p.i >= p.n) return false;
    if (p.s.at(p.i) === 48) {
      p.i = p.i + 1;
    } else if (!FleetJson._digits(p)) {
      return false;
    }
    if (p.i < p.n && p.s.at(p.i) === 46) {
      p.i = p.i + 1;
      if (!FleetJson._digits(p)) return false;
    }
    if (p.i < p.n && (p.s.at(p.i) === 101 || p.s.at(p.i) === 69)) {
      p.i = p.i + 1;
      if (p.i < p.n && (p.s.at(p.i) === 43 || p.s.at(p.i) === 45)) p.i = p.i + 1;
      if (!FleetJson._digits(p)) return false;
    }
    return true;
  },
  _open: function(p) {
    p.depth = p.depth + 1;
    p.i = p.i + 1;
    FleetJson._ws(p);
    return p.depth <= p.max;
  },
  _object: function(p) {
    if (!FleetJson._open(p)) return false;
    if (p.i < p.n && p.s.at(p.i) === 125) {
      p.i = p.i + 1;
      p.depth = p.depth - 1;
      return true;
    }
    while (p.i < p.n) {
      if (p.s.at(p.i) !== 34 || !FleetJson._string(p)) return false;
      FleetJson._ws(p);
      if (p.i >= p.n || p.s.at(p.i) !== 58) return false;
      p.i = p.i + 1;
      FleetJson._ws(p);
      if (!FleetJson._value(p)) return false;
      FleetJson._ws(p);
      if (p.i >= p.n) return false;
      let c = p.s.at(p.i);
      p.i = p.i + 1;
      if (c === 125) {
        p.depth = p.depth - 1;
        return true;
      }
      if (c !== 44) return false;
      FleetJson._ws(p);
    }
    return false;
  },
  _array: function(p) {
    if (!FleetJson._open(p)) return false;
    if (p.i < p.n && p.s.at(p.i) === 93) {
      p.i = p.i + 1;
      p.depth = p.depth - 1;
      return true;
    }
    while (p.i < p.n) {
      if (!FleetJson._value(p)) return false;
      FleetJson._ws(p);
      if (p.i >= p.n) return false;
      let c = p.s.at(p.i);
      p.i = p.i + 1;
      if (c === 93) {
        p.depth = p.depth - 1;
        return true;
      }
      if (c !== 44) return false;
      FleetJson._ws(p);
    }
    return false;
  }
};
