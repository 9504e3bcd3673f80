//! Progress of pull, push and create streams: bars on a terminal, plain lines otherwise.
