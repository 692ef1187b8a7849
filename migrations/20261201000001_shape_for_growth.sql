-- Typed audit actions, invitation delivery after commit, no secrets at rest, verified emails.

-- The audit log's actions are a closed list, the same as the Rust enum `AuditAction`: a new
-- action needs `alter type audit_action add value ...` in the migration that brings it.
create type audit_action as enum (
    'society.created', 'society.settings_changed',
    'membership.requested', 'membership.withdrawn', 'membership.left',
    'membership.approved', 'membership.rejected', 'membership.role_changed',
    'membership.suspended', 'membership.reinstated', 'membership.removed',
    'invitation.created', 'invitation.resent', 'invitation.revoked', 'invitation.accepted'
);
alter table audit_log alter column action type audit_action using action::audit_action;

-- Invitation mail goes out after the invitation commits (never while its locks are held);
-- the result is recorded here. `issued_at`: when the current link was made (a resend makes a
-- new one). Neither `sent_at` nor `send_error`: still sending, or the server stopped first.
alter table invitations
    add column issued_at  timestamptz not null default now(),
    add column sent_at    timestamptz,
    add column send_error text;
-- Every earlier invitation was mailed before it was saved.
update invitations set issued_at = created_at, sent_at = created_at;

-- A sign-in link carries its `next` path in the link itself: that path may hold an
-- invitation's secret, which must not be stored.
alter table email_login_tokens drop column next_path;

-- Whether the address is known to be the person's: an email link proves it; for an OpenID
-- Connect sign-in the provider's `email_verified` claim says so. Invitations match only
-- verified addresses.
alter table users add column email_verified boolean not null default false;
update users set email_verified = true where issuer = 'roster:email';
