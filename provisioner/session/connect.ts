// Opens a board session from a port URL (device path, rfc2217://, sim://), as the CLI does.
import { createTransport } from '../transport/open-transport.ts';
import type { BoardSession } from './board-session.ts';
import { openBoardSession, type BoardSessionOptions } from './open-board-session.ts';

export type ConnectOptions = BoardSessionOptions;

export async function connectBoard(url: string, opts: ConnectOptions = {}): Promise<BoardSession> {
  return openBoardSession(createTransport(url), opts);
}

/** Runs `fn` with a session and always closes it, also when `fn` throws. */
export async function withBoard<T>(url: string, opts: ConnectOptions, fn: (session: BoardSession) => Promise<T>): Promise<T> {
  const session = await connectBoard(url, opts);
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}
