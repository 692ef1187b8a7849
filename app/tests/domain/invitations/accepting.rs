//! Accepting an invitation: who may, how often, and at the same time as others.

use super::*;

#[sqlx::test(migrations = "../migrations")]
async fn an_accepted_invitation_makes_an_approved_member_with_the_invited_role(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let created = invite(&pool, club.id, admin.id, "  Mia@Example.ORG ", Trainer).await;

    let invitation = &created.invitation;
    assert_eq!(
        (
            invitation.email.as_str(),
            invitation.role,
            invitation.state,
            invitation.invited_by.as_deref()
        ),
        (
            "mia@example.org",
            Trainer,
            InvitationState::Open,
            Some("admin-club")
        )
    );
    assert_eq!(
        invitation.expires_at - invitation.created_at,
        chrono::Duration::days(INVITATION_DAYS)
    );
    assert_eq!(created.society_name, "Harbour Rowing Club");
    // Only the hash of the link's secret is kept.
    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from invitations")
        .fetch_one(&pool)
        .await
        .unwrap();
    use sha2::Digest;
    assert_eq!(
        stored,
        sha2::Sha256::digest(created.token.as_bytes()).to_vec()
    );
    let (actor, subject, details): (Uuid, String, serde_json::Value) = sqlx::query_as(
        "select actor_id, subject_id, details from audit_log where action = 'invitation.created'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (actor, subject, details),
        (
            admin.id.0,
            invitation.id.0.to_string(),
            json!({ "email": "mia@example.org", "role": "trainer" })
        )
    );

    let mut conn = pool.acquire().await.unwrap();
    let details = invitations::details(&mut conn, &created.token)
        .await
        .unwrap();
    assert_eq!(
        (
            details.society_slug.as_str(),
            details.society_name.as_str(),
            details.email.as_str(),
            details.role,
            details.invited_by.as_deref(),
            details.state,
            details.expires_at
        ),
        (
            "club",
            "Harbour Rowing Club",
            "mia@example.org",
            Trainer,
            Some("admin-club"),
            InvitationState::Open,
            invitation.expires_at
        )
    );
    drop(conn);

    // Mia signs in later; her address arrives in another case.
    let mut mia = account(&pool, "mia", "mia@example.org").await;
    mia.email = " MIA@example.Org ".into();
    assert_eq!(
        accept(&pool, &format!(" {} ", created.token), &mia).await,
        Ok("club".into())
    );

    assert_eq!(
        membership(&pool, club.id, mia.id).await,
        Some((Trainer, Approved))
    );
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        members::require_role(&mut conn, club.id, mia.id, Trainer).await,
        Ok(Trainer)
    );
    let decided_by: Option<Uuid> =
        sqlx::query_scalar("select decided_by from memberships where user_id = $1")
            .bind(mia.id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        decided_by,
        Some(admin.id.0),
        "the inviting admin let her in"
    );
    assert_eq!(ends(&pool, invitation.id).await, (Some(mia.id.0), None));
    assert_eq!(
        state(&pool, &created.token).await,
        InvitationState::Accepted
    );
    let listed = crate::calls::list_invitations(&mut conn, club.id, admin.id)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|i| (i.id, i.state)).collect::<Vec<_>>(),
        [(invitation.id, InvitationState::Accepted)]
    );
    let (actor, details): (Uuid, serde_json::Value) = sqlx::query_as(
        "select actor_id, details from audit_log where action = 'invitation.accepted'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (actor, details),
        (
            mia.id.0,
            json!({ "invitation_id": invitation.id.0, "email": "mia@example.org", "role": "trainer" })
        )
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_invitation_works_once(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let created = invite(&pool, club.id, admin.id, "mia@example.org", Member).await;
    let mia = account(&pool, "mia-work", "mia@example.org").await;
    // The same address, signed in through another identity: another user.
    let twin = account(&pool, "mia-home", "Mia@Example.org").await;
    assert_ne!(mia.id, twin.id);

    assert_eq!(accept(&pool, &created.token, &mia).await, Ok("club".into()));
    // Opening the link again is harmless for the person who used it.
    assert_eq!(accept(&pool, &created.token, &mia).await, Ok("club".into()));
    assert_eq!(audit_count(&pool, "invitation.accepted").await, 1);

    let before = counts(&pool).await;
    let again = accept(&pool, &created.token, &twin).await;
    assert!(is_conflict(&again, "already used"), "{again:?}");
    assert_eq!(membership(&pool, club.id, twin.id).await, None);
    assert_eq!(
        ends(&pool, created.invitation.id).await,
        (Some(mia.id.0), None)
    );
    assert_eq!(counts(&pool).await, before);
}

#[sqlx::test(migrations = "../migrations")]
async fn someone_signed_in_with_another_address_cannot_accept(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let created = invite(&pool, club.id, admin.id, "mia@example.org", Admin).await;
    let tom = account(&pool, "tom", "tom@example.org").await;
    let nameless = account(&pool, "no-email", "").await;
    let near = account(&pool, "near", "mia@example.org.evil").await;
    let before = counts(&pool).await;

    let result = accept(&pool, &created.token, &tom).await;
    assert!(is_conflict(&result, "mia@example.org"), "{result:?}");
    let result = accept(&pool, &created.token, &nameless).await;
    assert!(
        is_conflict(&result, "without an email address"),
        "{result:?}"
    );
    let result = accept(&pool, &created.token, &near).await;
    assert!(matches!(result, Err(AppError::Conflict(_))), "{result:?}");
    assert_eq!(counts(&pool).await, before, "nothing changed");
    for user in [&tom, &nameless, &near] {
        assert_eq!(membership(&pool, club.id, user.id).await, None);
    }
    assert_eq!(state(&pool, &created.token).await, InvitationState::Open);

    // The right person still can.
    let mia = account(&pool, "mia", "mia@example.org").await;
    accept(&pool, &created.token, &mia).await.unwrap();
    assert_eq!(
        membership(&pool, club.id, mia.id).await,
        Some((Admin, Approved))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn expired_and_revoked_invitations_do_not_work(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let expired = invite(&pool, club.id, admin.id, "old@example.org", Member).await;
    let revoked = invite(&pool, club.id, admin.id, "rev@example.org", Member).await;
    let accepted = invite(&pool, club.id, admin.id, "acc@example.org", Member).await;
    let old = account(&pool, "old", "old@example.org").await;
    let rev = account(&pool, "rev", "rev@example.org").await;
    let acc = account(&pool, "acc", "acc@example.org").await;
    accept(&pool, &accepted.token, &acc).await.unwrap();

    sqlx::query("update invitations set expires_at = now() - interval '1 second' where id = $1")
        .bind(expired.invitation.id.0)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(state(&pool, &expired.token).await, InvitationState::Expired);
    let result = accept(&pool, &expired.token, &old).await;
    assert!(is_conflict(&result, "expired"), "{result:?}");
    assert_eq!(membership(&pool, club.id, old.id).await, None);

    let mut conn = pool.acquire().await.unwrap();
    crate::calls::revoke_invitation(&mut conn, club.id, admin.id, revoked.invitation.id)
        .await
        .unwrap();
    assert_eq!(
        ends(&pool, revoked.invitation.id).await,
        (None, Some(admin.id.0))
    );
    let (actor, subject, details): (Uuid, String, serde_json::Value) = sqlx::query_as(
        "select actor_id, subject_id, details from audit_log where action = 'invitation.revoked'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (actor, subject, details),
        (
            admin.id.0,
            revoked.invitation.id.0.to_string(),
            json!({ "email": "rev@example.org" })
        )
    );
    assert_eq!(state(&pool, &revoked.token).await, InvitationState::Revoked);
    let result = accept(&pool, &revoked.token, &rev).await;
    assert!(is_conflict(&result, "withdrawn"), "{result:?}");
    assert_eq!(membership(&pool, club.id, rev.id).await, None);

    // An invitation ends once.
    for id in [revoked.invitation.id, accepted.invitation.id] {
        let result = crate::calls::revoke_invitation(&mut conn, club.id, admin.id, id).await;
        assert!(
            is_conflict(&result, "already accepted or revoked"),
            "{result:?}"
        );
    }
    assert_eq!(
        ends(&pool, accepted.invitation.id).await,
        (Some(acc.id.0), None)
    );
    assert_eq!(audit_count(&pool, "invitation.revoked").await, 1);

    let listed = crate::calls::list_invitations(&mut conn, club.id, admin.id)
        .await
        .unwrap();
    let states: Vec<(String, InvitationState)> =
        listed.into_iter().map(|i| (i.email, i.state)).collect();
    assert_eq!(
        states,
        [
            ("acc@example.org".to_string(), InvitationState::Accepted),
            ("rev@example.org".to_string(), InvitationState::Revoked),
            ("old@example.org".to_string(), InvitationState::Expired),
        ],
        "newest first"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_unknown_token_is_not_found(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let created = invite(&pool, club.id, admin.id, "mia@example.org", Member).await;
    let mia = account(&pool, "mia", "mia@example.org").await;
    let before = counts(&pool).await;
    let mut conn = pool.acquire().await.unwrap();
    let mut almost = created.token.clone();
    almost.pop();
    let fresh = app::secret::new_token();
    for token in ["", "nope", almost.as_str(), fresh.as_str()] {
        assert_eq!(
            invitations::details(&mut conn, token).await.map(drop),
            Err(AppError::NotFound),
            "{token:?}"
        );
        assert_eq!(
            invitations::accept(&mut conn, token, &mia).await,
            Err(AppError::NotFound),
            "{token:?}"
        );
    }
    assert_eq!(counts(&pool).await, before, "nothing written");
}

#[sqlx::test(migrations = "../migrations")]
async fn accepting_upgrades_requests_keeps_members_roles_and_refuses_suspended_members(
    pool: PgPool,
) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let pia = account(&pool, "pia", "pia@example.org").await;
    let rick = account(&pool, "rick", "rick@example.org").await;
    let tina = account(&pool, "tina", "tina@example.org").await;
    let sue = account(&pool, "sue", "sue@example.org").await;
    // Invited first; what happened to them since differs.
    let mut tokens = Vec::new();
    for user in [&pia, &rick, &tina, &sue] {
        tokens.push(
            invite(&pool, club.id, admin.id, &user.email, Admin)
                .await
                .token,
        );
    }
    let mut conn = pool.acquire().await.unwrap();
    members::request(&mut conn, club.id, pia.id, "Hi")
        .await
        .unwrap();
    members::request(&mut conn, club.id, rick.id, "")
        .await
        .unwrap();
    members::decide(
        &mut conn,
        club.id,
        admin.id,
        rick.id,
        app::members::Decision::Reject,
        "Full",
    )
    .await
    .unwrap();
    fx::put_membership(&mut conn, club.id, tina.id, Trainer, Approved)
        .await
        .unwrap();
    fx::put_membership(&mut conn, club.id, sue.id, Member, Suspended)
        .await
        .unwrap();
    drop(conn);

    accept(&pool, &tokens[0], &pia).await.unwrap();
    assert_eq!(
        membership(&pool, club.id, pia.id).await,
        Some((Admin, Approved))
    );
    accept(&pool, &tokens[1], &rick).await.unwrap();
    assert_eq!(
        membership(&pool, club.id, rick.id).await,
        Some((Admin, Approved))
    );
    let reason: String =
        sqlx::query_scalar("select decision_reason from memberships where user_id = $1")
            .bind(rick.id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(reason, "", "the old rejection reason is gone");
    accept(&pool, &tokens[2], &tina).await.unwrap();
    assert_eq!(
        membership(&pool, club.id, tina.id).await,
        Some((Trainer, Approved)),
        "an approved member keeps their role"
    );

    let result = accept(&pool, &tokens[3], &sue).await;
    assert!(is_conflict(&result, "suspended"), "{result:?}");
    assert_eq!(
        membership(&pool, club.id, sue.id).await,
        Some((Member, Suspended))
    );
    assert_eq!(state(&pool, &tokens[3]).await, InvitationState::Open);
    assert_eq!(audit_count(&pool, "invitation.accepted").await, 3);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_society_sends_at_most_100_invitations_an_hour(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let (other, other_admin) = fx::society_with_admin(&pool, "other").await;
    let mut conn = pool.acquire().await.unwrap();
    for i in 0..MAX_INVITATIONS_PER_HOUR {
        crate::calls::invite(
            &mut conn,
            club.id,
            admin.id,
            &format!("p{i}@example.org"),
            Member,
        )
        .await
        .unwrap();
    }
    let before = counts(&pool).await;
    let err = crate::calls::invite(&mut conn, club.id, admin.id, "one-more@example.org", Member)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::RateLimited { .. }), "{err:?}");
    // Replacing counts too: it is a new email.
    let err = crate::calls::invite(&mut conn, club.id, admin.id, "p0@example.org", Member)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::RateLimited { .. }), "{err:?}");
    assert_eq!(counts(&pool).await, before, "nothing written");
    // Other societies have their own limit.
    crate::calls::invite(
        &mut conn,
        other.id,
        other_admin.id,
        "one-more@example.org",
        Member,
    )
    .await
    .unwrap();

    sqlx::query(
        "update invitations set created_at = now() - interval '61 minutes', issued_at = now() - interval '61 minutes'
          where society_id = $1",
    )
    .bind(club.id.0)
    .execute(&pool)
    .await
    .unwrap();
    crate::calls::invite(&mut conn, club.id, admin.id, "one-more@example.org", Member)
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn two_accounts_accepting_at_once_exactly_one_joins(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let created = invite(&pool, club.id, admin.id, "twin@example.org", Member).await;
    let a = account(&pool, "a", "twin@example.org").await;
    let b = account(&pool, "b", "twin@example.org").await;

    // A accepts and holds its transaction open; B's acceptance must wait for it.
    let mut tx_a = pool.begin().await.unwrap();
    let ra = invitations::accept(&mut tx_a, &created.token, &a).await;
    let second = {
        let (pool, token, b) = (pool.clone(), created.token.clone(), b.clone());
        tokio::spawn(async move { accept(&pool, &token, &b).await })
    };
    fx::wait_until_blocked(&pool, 1).await;
    tx_a.commit().await.unwrap();
    let rb = second.await.unwrap();

    assert_eq!(ra, Ok("club".into()));
    assert!(is_conflict(&rb, "already used"), "{rb:?}");
    assert_eq!(
        membership(&pool, club.id, a.id).await,
        Some((Member, Approved))
    );
    assert_eq!(membership(&pool, club.id, b.id).await, None);
    assert_eq!(
        ends(&pool, created.invitation.id).await,
        (Some(a.id.0), None)
    );
    assert_eq!(audit_count(&pool, "invitation.accepted").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn two_admins_inviting_one_address_at_once_leave_one_open_invitation(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let second = fx::user(&pool, "second-admin", false).await;
    let mut conn = pool.acquire().await.unwrap();
    fx::put_membership(&mut conn, club.id, second.id, Admin, Approved)
        .await
        .unwrap();
    drop(conn);

    // The first admin's invitation is made and not yet committed; the second admin's call
    // waits on the society lock, then sees (and replaces) it.
    let mut tx = pool.begin().await.unwrap();
    let first = crate::calls::invite(&mut tx, club.id, admin.id, "mia@example.org", Member)
        .await
        .unwrap();
    let later = fx::in_background(&pool, move |c| {
        Box::pin(async move {
            crate::calls::invite(c, club.id, second.id, "mia@example.org", Member).await
        })
    });
    fx::wait_until_blocked(&pool, 1).await;
    tx.commit().await.unwrap();
    let live = later.await.unwrap().unwrap();

    let open: Vec<Uuid> = sqlx::query_scalar(
        "select id from invitations where accepted_at is null and revoked_at is null",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(open, [live.invitation.id.0]);
    assert_eq!(state(&pool, &first.token).await, InvitationState::Revoked);
    let mia = account(&pool, "mia", "mia@example.org").await;
    assert!(accept(&pool, &first.token, &mia).await.is_err());
    accept(&pool, &live.token, &mia).await.unwrap();
    assert_eq!(
        membership(&pool, club.id, mia.id).await,
        Some((Member, Approved))
    );
}

// Regression: accepting and suspending the same person at once must not deadlock (every
// admin action locks the society first, `for no key update`, so foreign-key checks of audit
// rows never wait on it). A settings change holds the society row; the suspension waits on
// it; the acceptance must still go through meanwhile.
#[sqlx::test(migrations = "../migrations")]
async fn accepting_while_an_admin_suspends_the_same_person_does_not_fail(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let created = invite(&pool, club.id, admin.id, "tina@example.org", Trainer).await;
    let tina = account(&pool, "tina", "tina@example.org").await;
    // Approved in the meantime through a request.
    let mut conn = pool.acquire().await.unwrap();
    fx::put_membership(&mut conn, club.id, tina.id, Member, Approved)
        .await
        .unwrap();
    drop(conn);

    let mut settings_tx = pool.begin().await.unwrap();
    crate::calls::update_settings(
        &mut settings_tx,
        club.id,
        admin.id,
        app::societies::SocietySettings {
            name: "Harbour RC".into(),
            description: String::new(),
            time_zone: "Europe/Berlin".into(),
            join_policy: app::societies::JoinPolicy::Approval,
            calendar_public: false,
        },
    )
    .await
    .unwrap();
    let suspension = fx::in_background(&pool, move |c| {
        Box::pin(async move { members::suspend(c, club.id, admin.id, tina.id, "").await })
    });
    fx::wait_until_blocked(&pool, 1).await;
    let accepted = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        accept(&pool, &created.token, &tina),
    )
    .await
    .expect("accepting does not wait for the admins' society lock");
    settings_tx.commit().await.unwrap();
    let suspended = suspension.await.unwrap();

    assert_eq!(accepted, Ok("club".into()));
    assert_eq!(suspended, Ok(()));
    assert_eq!(
        membership(&pool, club.id, tina.id).await,
        Some((Member, Suspended)),
        "she was a member already, so she keeps her role; the suspension came after"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_address_the_identity_provider_did_not_verify_cannot_accept(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let created = invite(&pool, club.id, admin.id, "kim@example.org", Member).await;
    // Anyone can type any address into some identity providers: unverified, it proves nothing.
    let typed = account_verified(&pool, "kim-typed", "kim@example.org", false).await;
    let result = accept(&pool, &created.token, &typed).await;
    assert!(is_conflict(&result, "has not confirmed"), "{result:?}");
    assert_eq!(membership(&pool, club.id, typed.id).await, None);
    assert_eq!(state(&pool, &created.token).await, InvitationState::Open);

    // The same address, verified, accepts.
    let kim = account_verified(&pool, "kim", "kim@example.org", true).await;
    accept(&pool, &created.token, &kim).await.unwrap();
    assert_eq!(
        membership(&pool, club.id, kim.id).await,
        Some((Member, Approved))
    );
}
