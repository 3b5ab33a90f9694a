// The provider's user store: one JSON file, rewritten whole on each change (a demo's
// handful of users). Passwords are kept as scrypt hashes; metadata written by actions
// (api.user.setAppMetadata / setUserMetadata) is stored here and read by the next login.
import { scryptSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export const TEST_USER = {
  email: 'jane@example.com',
  password: 'actionsd-demo',
  name: 'Jane Doe',
  given_name: 'Jane',
  family_name: 'Doe',
  roles: ['editor'],
};

function hash(password, salt = randomBytes(16).toString('hex')) {
  return `${salt}:${scryptSync(password, salt, 32).toString('hex')}`;
}

function verify(password, stored) {
  const [salt, expected] = stored.split(':');
  const actual = scryptSync(password, salt, 32);
  return timingSafeEqual(actual, Buffer.from(expected, 'hex'));
}

export class UserStore {
  constructor(file) {
    this.file = file;
    this.users = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  }

  ensure({ password, ...profile }) {
    if (Object.values(this.users).some((u) => u.email === profile.email)) return;
    const now = new Date().toISOString();
    const id = `auth0|${randomBytes(12).toString('hex')}`;
    this.users[id] = {
      user_id: id,
      email_verified: true,
      ...profile,
      password: hash(password),
      app_metadata: {},
      user_metadata: {},
      created_at: now,
      updated_at: now,
      logins_count: 0,
    };
    this.#save();
  }

  find(id) {
    return this.users[id];
  }

  // The user on a right password (counting the login), else undefined.
  authenticate(email, password) {
    const user = Object.values(this.users).find((u) => u.email === email);
    if (!user || !verify(password, user.password)) return undefined;
    user.logins_count += 1;
    user.last_login = new Date().toISOString();
    this.#save();
    return user;
  }

  // Metadata changes from a flow's outcome: merged by top-level key, null deletes.
  applyMetadata(id, changes = {}) {
    const user = this.users[id];
    let changed = false;
    for (const kind of ['app_metadata', 'user_metadata']) {
      for (const [key, value] of Object.entries(changes[kind] || {})) {
        if (value === null) delete user[kind][key];
        else user[kind][key] = value;
        changed = true;
      }
    }
    if (changed) {
      user.updated_at = new Date().toISOString();
      this.#save();
    }
  }

  #save() {
    // Write then rename, so a crash never leaves half a file.
    writeFileSync(`${this.file}.tmp`, JSON.stringify(this.users, null, 2), { mode: 0o600 });
    renameSync(`${this.file}.tmp`, this.file);
  }
}

// The user as Auth0 hands it to actions (event.user): no password hash.
export function eventUser(user) {
  const { password, roles, ...rest } = user;
  return {
    ...rest,
    nickname: user.email.split('@')[0],
    identities: [{ provider: 'auth0', connection: 'local-users', user_id: user.user_id.split('|')[1], isSocial: false }],
  };
}
