//! Sending, replacing and revoking invitations, and who may.

use super::*;

#[sqlx::test(migrations = "../migrations")]
async fn inviting_the_same_address_again_replaces_the_open_invitation(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let first = invite(&pool, club.id, admin.id, "mia@example.org", Member).await;
    let second = invite(&pool, club.id, admin.id, "MIA@example.org", Trainer).await;
    let mia = account(&pool, "mia", "mia@example.org").await;

    assert_eq!(
        ends(&pool, first.invitation.id).await,
        (None, Some(admin.id.0))
    );
    assert_eq!(state(&pool, &first.token).await, InvitationState::Revoked);
    let result = accept(&pool, &first.token, &mia).await;
    assert!(is_conflict(&result, "withdrawn"), "{result:?}");
    assert_eq!(membership(&pool, club.id, mia.id).await, None);

    accept(&pool, &second.token, &mia).await.unwrap();
    assert_eq!(
        membership(&pool, club.id, mia.id).await,
        Some((Trainer, Approved))
    );

    // An expired invitation is replaced too.
    let old = invite(&pool, club.id, admin.id, "tom@example.org", Member).await;
    sqlx::query("update invitations set expires_at = now() - interval '1 day' where id = $1")
        .bind(old.invitation.id.0)
        .execute(&pool)
        .await
        .unwrap();
    let fresh = invite(&pool, club.id, admin.id, "tom@example.org", Member).await;
    assert_eq!(state(&pool, &old.token).await, InvitationState::Revoked);
    assert_eq!(state(&pool, &fresh.token).await, InvitationState::Open);

    // Another society's invitation to the same address is its own.
    let (other, other_admin) = fx::society_with_admin(&pool, "other").await;
    let elsewhere = invite(&pool, other.id, other_admin.id, "tom@example.org", Member).await;
    assert_eq!(state(&pool, &fresh.token).await, InvitationState::Open);
    assert_eq!(state(&pool, &elsewhere.token).await, InvitationState::Open);
    let open: i64 = sqlx::query_scalar(
        "select count(*) from invitations where accepted_at is null and revoked_at is null",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(open, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn current_and_suspended_members_cannot_be_invited(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mia = account(&pool, "mia", "mia@example.org").await;
    let sue = account(&pool, "sue", "sue@example.org").await;
    let pia = account(&pool, "pia", "pia@example.org").await;
    let rick = account(&pool, "rick", "rick@example.org").await;
    let mut conn = pool.acquire().await.unwrap();
    for (user, status) in [
        (&mia, Approved),
        (&sue, Suspended),
        (&pia, Pending),
        (&rick, Rejected),
    ] {
        members::put(&mut conn, club.id, user.id, Member, status)
            .await
            .unwrap();
    }
    let before = counts(&pool).await;

    for email in [
        "mia@example.org",
        " MIA@Example.org",
        "admin-club@example.org",
    ] {
        let result = invitations::create(&mut conn, club.id, admin.id, email, Trainer).await;
        assert!(
            is_conflict(&result, "already a member"),
            "{email}: {result:?}"
        );
    }
    let result = invitations::create(&mut conn, club.id, admin.id, "sue@example.org", Member).await;
    assert!(is_conflict(&result, "suspended"), "{result:?}");
    assert_eq!(counts(&pool).await, before, "nothing written");

    // Someone waiting for a decision, or rejected before, may be invited.
    for email in ["pia@example.org", "rick@example.org"] {
        invitations::create(&mut conn, club.id, admin.id, email, Member)
            .await
            .unwrap();
    }
    assert_eq!(fx::count(&pool, "invitations").await, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn malformed_addresses_are_refused_with_nothing_written(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let before = counts(&pool).await;
    let mut conn = pool.acquire().await.unwrap();
    for bad in [
        "",
        "   ",
        "not-an-email",
        "a@",
        "@example.org",
        "a b@example.org",
        "a@exa mple.org",
        &format!("{}@example.org", "x".repeat(250)),
    ] {
        let err = invitations::create(&mut conn, club.id, admin.id, bad, Member)
            .await
            .unwrap_err();
        assert!(err.field_message("email").is_some(), "{bad:?}: {err:?}");
    }
    assert_eq!(counts(&pool).await, before, "nothing written");
}

#[sqlx::test(migrations = "../migrations")]
async fn only_the_societys_admins_invite_list_and_revoke(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let (_, other_admin) = fx::society_with_admin(&pool, "other").await;
    let created = invite(&pool, club.id, admin.id, "mia@example.org", Member).await;
    let mut outsiders = vec![("other society's admin", other_admin.id)];
    let mut conn = pool.acquire().await.unwrap();
    for (who, role, status) in [
        ("member", Member, Approved),
        ("trainer", Trainer, Approved),
        ("pending admin", Admin, Pending),
        ("suspended admin", Admin, Suspended),
    ] {
        let user = account(
            &pool,
            who,
            &format!("{}@example.org", who.replace(' ', "-")),
        )
        .await;
        members::put(&mut conn, club.id, user.id, role, status)
            .await
            .unwrap();
        outsiders.push((who, user.id));
    }
    outsiders.push(("platform admin", fx::user(&pool, "root", true).await.id));
    outsiders.push(("stranger", fx::user(&pool, "stranger", false).await.id));
    let before = counts(&pool).await;

    for (who, actor) in outsiders {
        assert_eq!(
            invitations::create(&mut conn, club.id, actor, "new@example.org", Admin)
                .await
                .map(drop),
            Err(AppError::Forbidden),
            "{who}: create"
        );
        assert_eq!(
            invitations::list(&mut conn, club.id, actor).await.map(drop),
            Err(AppError::Forbidden),
            "{who}: list"
        );
        assert_eq!(
            invitations::revoke(&mut conn, club.id, actor, created.invitation.id).await,
            Err(AppError::Forbidden),
            "{who}: revoke"
        );
    }
    assert_eq!(counts(&pool).await, before, "nothing written");
    assert_eq!(state(&pool, &created.token).await, InvitationState::Open);
}

#[sqlx::test(migrations = "../migrations")]
async fn another_societys_admin_cannot_revoke_by_guessing_an_id(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let (other, other_admin) = fx::society_with_admin(&pool, "other").await;
    let created = invite(&pool, club.id, admin.id, "mia@example.org", Member).await;
    let before = counts(&pool).await;
    let mut conn = pool.acquire().await.unwrap();

    // Through their own society the id is simply not found...
    assert_eq!(
        invitations::revoke(&mut conn, other.id, other_admin.id, created.invitation.id).await,
        Err(AppError::NotFound)
    );
    // ...and through ours they are no admin.
    assert_eq!(
        invitations::revoke(&mut conn, club.id, other_admin.id, created.invitation.id).await,
        Err(AppError::Forbidden)
    );
    assert_eq!(
        invitations::revoke(&mut conn, club.id, admin.id, InvitationId(Uuid::new_v4())).await,
        Err(AppError::NotFound)
    );
    assert!(invitations::list(&mut conn, other.id, other_admin.id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(counts(&pool).await, before, "nothing written");
    assert_eq!(ends(&pool, created.invitation.id).await, (None, None));
    assert_eq!(state(&pool, &created.token).await, InvitationState::Open);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_invitee_is_queued_by_address_and_by_account_when_they_have_one(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let outbox = |id: i64| {
        let pool = pool.clone();
        async move {
            let row: (
                Option<Uuid>,
                Option<String>,
                String,
                serde_json::Value,
                bool,
            ) = sqlx::query_as(
                "select recipient_id, recipient_email, kind, payload, sent_at is not null
                       from notification_outbox where id = $1",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
            row
        }
    };

    let new = invite(&pool, club.id, admin.id, "New@Example.org", Trainer).await;
    assert_eq!(
        outbox(new.notification).await,
        (
            None,
            Some("new@example.org".into()),
            "membership.invited".into(),
            json!({ "invitation_id": new.invitation.id.0, "role": "trainer" }),
            false
        )
    );

    let tom = account(&pool, "tom", "tom@example.org").await;
    let created = invite(&pool, club.id, admin.id, "TOM@example.org", Member).await;
    let (recipient, email, kind, _, _) = outbox(created.notification).await;
    assert_eq!(
        (recipient, email.as_deref(), kind.as_str()),
        (
            Some(tom.id.0),
            Some("tom@example.org"),
            "membership.invited"
        )
    );

    // With two accounts for one address, the one used last is told.
    let work = account(&pool, "ann-work", "ann@example.org").await;
    let home = account(&pool, "ann-home", "ann@example.org").await;
    sqlx::query(
        "update users set last_login_at = case when id = $1 then now() else now() - interval '1 day' end
          where id in ($1, $2)",
    )
    .bind(work.id.0)
    .bind(home.id.0)
    .execute(&pool)
    .await
    .unwrap();
    let created = invite(&pool, club.id, admin.id, "ann@example.org", Member).await;
    assert_eq!(outbox(created.notification).await.0, Some(work.id.0));
    assert_eq!(
        fx::count(&pool, "notification_outbox").await,
        3,
        "one row per invitation"
    );
}
