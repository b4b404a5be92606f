import type { AdminStore } from "@spell/engine";
import { run, type Sql } from "../sql.ts";

export function createAdminStore(sql: Sql): AdminStore {
  return {
    async banUser(userId, reason, bannedBy) {
      // One statement: the user row (created if never seen) flips to banned and the history row is
      // written atomically; the foreign key is checked at the end of the statement.
      await run(
        sql,
        `WITH banned AS (
           INSERT INTO users (id, status) VALUES ($1, 'banned')
           ON CONFLICT (id) DO UPDATE SET status = 'banned', updated_at = now()
           RETURNING id
         )
         INSERT INTO bans (user_id, reason, banned_by) SELECT id, $2, $3 FROM banned`,
        [userId, reason, bannedBy],
      );
    },
    async unbanUser(userId) {
      await run(
        sql,
        `WITH lifted AS (
           UPDATE bans SET lifted_at = now() WHERE user_id = $1 AND lifted_at IS NULL RETURNING id
         )
         UPDATE users SET status = 'active', updated_at = now() WHERE id = $1 AND status <> 'active'`,
        [userId],
      );
    },
    async setTeamMembership(teamId, userId, member) {
      if (!member) {
        await run(sql, "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2", [teamId, userId]);
        return;
      }
      await run(
        sql,
        `WITH ensured AS (INSERT INTO users (id) VALUES ($2) ON CONFLICT (id) DO NOTHING)
         INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
        [teamId, userId],
      );
    },
  };
}
