// A pseudo-terminal relayed to a TCP socket, for benchmarks that drive the virtual
// board the way a USB-UART bridge looks to a host: a real tty that pyserial (esptool)
// and node serialport open. A pty carries no DTR/RTS, so callers reset the board
// through its own API.

/** Python program: args host port; prints the tty path, relays until the socket closes. */
export const PTY_BRIDGE = `
import os, pty, select, socket, sys, tty
master, slave = pty.openpty()
tty.setraw(master)
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
print(os.ttyname(slave), flush=True)
while True:
    r, _, _ = select.select([master, s], [], [])
    if master in r:
        s.sendall(os.read(master, 65536))
    if s in r:
        d = s.recv(65536)
        if not d:
            break
        os.write(master, d)
`;
