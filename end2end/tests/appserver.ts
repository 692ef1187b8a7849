// Roster servers of a test's own behind a TCP proxy the test controls: the proxy can drop
// every connection (the phone loses its signal, for the page and its service worker alike)
// and can move to another server (a new build deployed at the same address).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function need(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite with \`bash .ci/test\``);
  return value;
}

export class Proxy {
  private server: net.Server;
  private sockets = new Set<net.Socket>();
  private target = 0;
  online = true;
  port = 0;

  constructor() {
    this.server = net.createServer((client) => {
      if (!this.online || !this.target) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => { client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.url;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Sends every new connection to `server`; open ones are cut. */
  to(server: AppServer) {
    this.target = server.port;
    this.cut();
  }

  /** No connection gets through, and the open ones are cut. */
  offline() {
    this.online = false;
    this.cut();
  }

  onlineAgain() {
    this.online = true;
  }

  private cut() {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async stop() {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export class AppServer {
  constructor(public port: number, private child: ChildProcess, public log: string[]) {}

  /** The release server (the suite's build), answering as `publicUrl`; `site` and `hashFile`
   * name another build's files. */
  static async start(publicUrl: string, build?: { site: string; hashFile: string }): Promise<AppServer> {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: need('ROSTER_E2E_DATABASE_URL'),
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: build?.site ?? need('ROSTER_E2E_SITE'),
      LEPTOS_ENV: 'PROD',
      LEPTOS_OUTPUT_NAME: 'roster',
      ROSTER_PUBLIC_URL: publicUrl,
      ROSTER_OIDC_ISSUER: need('ROSTER_TEST_OIDC_ISSUER'),
      ROSTER_OIDC_CLIENT_ID: 'roster',
      ROSTER_OIDC_CLIENT_SECRET: 'roster-test-secret',
      ROSTER_EMAIL_LOGIN: 'on',
      ROSTER_SMTP_URL: need('ROSTER_TEST_SMTP_URL'),
      ROSTER_LOG_FORMAT: 'text',
      ROSTER_DB_MAX_CONNECTIONS: '5',
    };
    if (build) env.LEPTOS_HASH_FILE_NAME = build.hashFile;
    const child = spawn(need('ROSTER_E2E_BINARY'), [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const log: string[] = [];
    child.stdout!.on('data', (d) => log.push(String(d)));
    child.stderr!.on('data', (d) => log.push(String(d)));
    for (let i = 0; i < 300; i++) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`);
        if (r.ok) return new AppServer(port, child, log);
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill();
    throw new Error(`the server did not start:\n${log.join('')}`);
  }

  async stop() {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** A copy of the suite's build whose stylesheet changed: what the next deploy looks like (new
 * hashed names, so a new service worker). Returns its site folder and hash file. */
export function nextBuild(): { site: string; hashFile: string; stylesheet: string } {
  const dir = mkdtempSync(join(tmpdir(), 'roster-next-build-'));
  const site = join(dir, 'site');
  cpSync(need('ROSTER_E2E_SITE'), site, { recursive: true });
  const hashes = readFileSync(join(need('ROSTER_E2E_BINARY'), '..', 'hash.txt'), 'utf8');
  const oldHash = hashes.match(/^css:\s*(\S+)/m)?.[1];
  if (!oldHash) throw new Error(`no css line in hash.txt:\n${hashes}`);
  const css = readFileSync(join(site, 'pkg', `roster.${oldHash}.css`), 'utf8') + '\n/* the next build */\n';
  const newHash = createHash('sha256').update(css).digest('base64url').slice(0, oldHash.length);
  writeFileSync(join(site, 'pkg', `roster.${newHash}.css`), css);
  // As after a real deploy, the old build's stylesheet is gone.
  for (const f of readdirSync(join(site, 'pkg'))) {
    if (f.startsWith(`roster.${oldHash}.css`)) rmSync(join(site, 'pkg', f));
  }
  const hashFile = join(dir, 'hash.txt');
  writeFileSync(hashFile, hashes.replace(/^css:\s*\S+/m, `css: ${newHash}`));
  return { site, hashFile, stylesheet: `/pkg/roster.${newHash}.css` };
}

/** One value from the suite's database (psql, as the test sees what was stored). */
export function sql(query: string): string {
  return execFileSync('psql', [need('ROSTER_E2E_DATABASE_URL'), '-tAc', query], { encoding: 'utf8' }).trim();
}

/** A video file for Chromium's fake camera (`--use-file-for-fake-video-capture`) showing the
 * grey picture `luma` (one byte per pixel, `width` × `height`), as YUV4MPEG2. */
export function fakeCameraFile(luma: Buffer, width: number, height: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'roster-camera-'));
  const file = join(dir, 'camera.y4m');
  const chroma = Buffer.alloc((width / 2) * (height / 2), 128);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), luma, chroma, chroma]);
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\n`);
  writeFileSync(file, Buffer.concat([header, frame, frame, frame]));
  return file;
}
