/// yamux and mplex stream multiplexers.
enum P2PMux {}
