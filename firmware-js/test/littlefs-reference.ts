// Test-only bridge to the reference littlefs (littlefs-python in .venv): one Python
// process runs a batch of jobs (format, build, torture, apply, read) on image files.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectOk, python } from '../../scripts/lib/oracles.ts';

export interface RefEntry {
  path: string;
  type: 'file' | 'dir';
  size: number;
  /** File contents as hex (files only). */
  hex?: string;
}

export type RefJob =
  | { op: 'format'; out: string; block_size: number; block_count: number; prog_size?: number; disk_version?: number }
  | { op: 'build'; out: string; block_size: number; block_count: number; prog_size?: number; disk_version?: number; dirs?: string[]; files: Array<{ path: string; hex: string }> }
  | { op: 'torture'; out: string; seed: number; steps: number; block_size: number; block_count: number; prog_size?: number; disk_version?: number; names?: number; max_size?: number; remove_below?: number; max_dirs?: number; block_cycles?: number }
  | { op: 'apply'; image: string; out: string; block_size: number; prog_size?: number; ops: RefOp[] }
  | { op: 'read'; image: string; block_size: number; prog_size?: number };

export type RefOp = { kind: 'write'; path: string; hex: string } | { kind: 'remove'; path: string } | { kind: 'mkdir'; path: string };

export type RefResult = { ok: true; entries?: RefEntry[]; version?: number; used?: number; log?: string[] } | { ok: false; error: string };

const SCRIPT = String.raw`
import json, random, sys, littlefs

def mount(buf, bs, bc, prog, dv=None, fmt=False, cycles=-1):
    ctx = littlefs.UserContext(buffer=buf)
    kw = dict(context=ctx, block_size=bs, block_count=bc, read_size=prog, prog_size=prog, block_cycles=cycles, mount=False)
    if dv is not None:
        kw['disk_version'] = dv
    fs = littlefs.LittleFS(**kw)
    if fmt:
        fs.format()
    fs.mount()
    return fs, ctx

def new_fs(job):
    buf = bytearray(b'\xff' * (job['block_size'] * job['block_count']))
    return mount(buf, job['block_size'], job['block_count'], job.get('prog_size', 128), job.get('disk_version'), True, job.get('block_cycles', -1))

def open_image(job):
    buf = bytearray(open(job['image'], 'rb').read())
    return mount(buf, job['block_size'], len(buf) // job['block_size'], job.get('prog_size', 128))

def save(ctx, path):
    open(path, 'wb').write(bytes(ctx.buffer))

def write(fs, path, data):
    with fs.open(path, 'wb') as f:
        f.write(data)

def tree(fs):
    out = []
    def visit(d):
        for name in fs.listdir(d):
            p = (d.rstrip('/') + '/' + name)
            st = fs.stat(p)
            if st.type == 2:
                out.append({'path': p, 'type': 'dir', 'size': 0})
                visit(p)
            else:
                with fs.open(p, 'rb') as f:
                    data = f.read()
                out.append({'path': p, 'type': 'file', 'size': st.size, 'hex': data.hex()})
    visit('/')
    return out

def torture(job):
    fs, ctx = new_fs(job)
    rnd = random.Random(job['seed'])
    dirs = ['/']
    files = {}
    log = []
    for step in range(job['steps']):
        r = rnd.random()
        try:
            if r < 0.45 or not files:
                d = rnd.choice(dirs)
                path = d.rstrip('/') + '/f%d' % rnd.randrange(job.get('names', 40))
                if path in dirs:
                    continue
                kind = rnd.random()
                n = 0 if kind < 0.1 else rnd.randrange(1, 128) if kind < 0.5 else rnd.randrange(128, 6000) if kind < 0.9 else rnd.randrange(6000, 20000)
                n = min(n, job.get('max_size', n))
                write(fs, path, bytes(rnd.getrandbits(8) for _ in range(n)))
                files[path] = n
                log.append('write %s %d' % (path, n))
            elif r < job.get('remove_below', 0.7):
                path = rnd.choice(sorted(files))
                fs.remove(path)
                del files[path]
                log.append('remove ' + path)
            elif r < 0.8 and len(dirs) < job.get('max_dirs', 8):
                d = rnd.choice(dirs).rstrip('/') + '/d%d' % rnd.randrange(10)
                if d in dirs or d in files:
                    continue
                fs.mkdir(d)
                dirs.append(d)
                log.append('mkdir ' + d)
            elif r < 0.9 and len(dirs) > 1:
                d = rnd.choice(dirs[1:])
                if any(p.startswith(d + '/') for p in list(files) + dirs):
                    continue
                fs.rmdir(d)
                dirs.remove(d)
                log.append('rmdir ' + d)
            else:
                src = rnd.choice(sorted(files))
                dst = rnd.choice(dirs).rstrip('/') + '/r%d' % rnd.randrange(20)
                if dst in dirs or dst == src:
                    continue
                fs.rename(src, dst)
                files[dst] = files.pop(src)
                log.append('rename %s %s' % (src, dst))
        except littlefs.LittleFSError as e:
            if e.code != littlefs.LittleFSError.Error.LFS_ERR_NOSPC:
                raise
            # A write that ran out of space may have left its (empty) entry behind.
            dirs, files = ['/'], {}
            for root, ds, fs_ in fs.walk('/'):
                dirs += [root.rstrip('/') + '/' + d for d in ds]
                for f in fs_:
                    files[root.rstrip('/') + '/' + f] = -1
            if files:
                victim = rnd.choice(sorted(files))
                fs.remove(victim)
                del files[victim]
                log.append('nospc; remove ' + victim)
    save(ctx, job['out'])
    return {'log': log}

def run(job):
    op = job['op']
    if op == 'format':
        fs, ctx = new_fs(job)
        save(ctx, job['out'])
        return {}
    if op == 'build':
        fs, ctx = new_fs(job)
        for d in job.get('dirs', []):
            fs.makedirs(d, exist_ok=True)
        for f in job['files']:
            parent = f['path'].rsplit('/', 1)[0]
            if parent:
                fs.makedirs(parent, exist_ok=True)
            write(fs, f['path'], bytes.fromhex(f['hex']))
        save(ctx, job['out'])
        return {}
    if op == 'torture':
        return torture(job)
    if op == 'apply':
        fs, ctx = open_image(job)
        for o in job['ops']:
            if o['kind'] == 'write':
                write(fs, o['path'], bytes.fromhex(o['hex']))
            elif o['kind'] == 'remove':
                fs.remove(o['path'])
            else:
                fs.mkdir(o['path'])
        save(ctx, job['out'])
        return {'entries': tree(fs)}
    if op == 'read':
        fs, ctx = open_image(job)
        return {'entries': tree(fs), 'version': fs.fs_stat().disk_version, 'used': fs.used_block_count}
    raise ValueError(op)

results = []
for job in json.load(open(sys.argv[1])):
    try:
        results.append(dict(ok=True, **run(job)))
    except Exception as e:
        results.append({'ok': False, 'error': '%s: %s' % (type(e).__name__, e)})
print(json.dumps(results))
`;

/** Runs the jobs in one Python process; results come back in job order. */
export async function runReference(jobs: RefJob[]): Promise<RefResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'lfs-ref-'));
  try {
    const jobFile = join(dir, 'jobs.json');
    writeFileSync(jobFile, JSON.stringify(jobs));
    const out = expectOk(await python(SCRIPT, [jobFile], { timeoutMs: 300_000 }), 'littlefs-python');
    return JSON.parse(out) as RefResult[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'lfs-test-'));
  path(name: string): string {
    return join(this.dir, name);
  }
  write(name: string, bytes: Uint8Array): string {
    const p = this.path(name);
    writeFileSync(p, bytes);
    return p;
  }
  read(name: string): Uint8Array {
    return new Uint8Array(readFileSync(this.path(name)));
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
