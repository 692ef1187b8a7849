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
        fx::put_membership(&mut conn, club.id, user.id, Member, status)
            .await
            .unwrap();
    }
    let before = counts(&pool).await;

    for email in [
        "mia@example.org",
        " MIA@Example.org",
        "admin-club@example.org",
    ] {
        let result = crate::calls::invite(&mut conn, club.id, admin.id, email, Trainer).await;
        assert!(
            is_conflict(&result, "already a member"),
            "{email}: {result:?}"
        );
    }
    let result =
        crate::calls::invite(&mut conn, club.id, admin.id, "sue@example.org", Member).await;
    assert!(is_conflict(&result, "suspended"), "{result:?}");
    assert_eq!(counts(&pool).await, before, "nothing written");

    // Someone waiting for a decision, or rejected before, may be invited.
    for email in ["pia@example.org", "rick@example.org"] {
        crate::calls::invite(&mut conn, club.id, admin.id, email, Member)
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
        let err = crate::calls::invite(&mut conn, club.id, admin.id, bad, Member)
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
        fx::put_membership(&mut conn, club.id, user.id, role, status)
            .await
            .unwrap();
        outsiders.push((who, user.id));
    }
    outsiders.push(("platform admin", fx::user(&pool, "root", true).await.id));
    outsiders.push(("stranger", fx::user(&pool, "stranger", false).await.id));
    let before = counts(&pool).await;

    for (who, actor) in outsiders {
        assert_eq!(
            crate::calls::invite(&mut conn, club.id, actor, "new@example.org", Admin)
                .await
                .map(drop),
            Err(AppError::Forbidden),
            "{who}: create"
        );
        assert_eq!(
            crate::calls::list_invitations(&mut conn, club.id, actor)
                .await
                .map(drop),
            Err(AppError::Forbidden),
            "{who}: list"
        );
        assert_eq!(
            crate::calls::revoke_invitation(&mut conn, club.id, actor, created.invitation.id).await,
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
        crate::calls::revoke_invitation(&mut conn, other.id, other_admin.id, created.invitation.id)
            .await,
        Err(AppError::NotFound)
    );
    // ...and through ours they are no admin.
    assert_eq!(
        crate::calls::revoke_invitation(&mut conn, club.id, other_admin.id, created.invitation.id)
            .await,
        Err(AppError::Forbidden)
    );
    assert_eq!(
        crate::calls::revoke_invitation(&mut conn, club.id, admin.id, InvitationId(Uuid::new_v4()))
            .await,
        Err(AppError::NotFound)
    );
    assert!(
        crate::calls::list_invitations(&mut conn, other.id, other_admin.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(counts(&pool).await, before, "nothing written");
    assert_eq!(ends(&pool, created.invitation.id).await, (None, None));
    assert_eq!(state(&pool, &created.token).await, InvitationState::Open);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_invitation_records_how_its_email_went_and_writes_no_outbox_row(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let created = invite(&pool, club.id, admin.id, "mia@example.org", Member).await;
    assert_eq!(created.invitation.delivery, Delivery::Sending);
    assert_eq!(
        fx::count(&pool, "notification_outbox").await,
        0,
        "the email carries a secret: it is sent directly, never queued"
    );
    let delivery = |pool: PgPool| async move {
        let mut conn = pool.acquire().await.unwrap();
        crate::calls::list_invitations(&mut conn, club.id, admin.id)
            .await
            .unwrap()
            .remove(0)
            .delivery
    };
    assert_eq!(delivery(pool.clone()).await, Delivery::Sending);

    invitations::mark_failed(&pool, created.invitation.id, "The mail server said no.")
        .await
        .unwrap();
    assert_eq!(
        delivery(pool.clone()).await,
        Delivery::Failed("The mail server said no.".into())
    );
    invitations::mark_sent(&pool, created.invitation.id)
        .await
        .unwrap();
    assert_eq!(delivery(pool.clone()).await, Delivery::Sent);
    // A late failure report does not undo a success.
    invitations::mark_failed(&pool, created.invitation.id, "late")
        .await
        .unwrap();
    assert_eq!(delivery(pool.clone()).await, Delivery::Sent);

    // The server stopped between saving and sending: after a while it shows as not sent.
    let stuck = invite(&pool, club.id, admin.id, "tom@example.org", Member).await;
    sqlx::query("update invitations set issued_at = now() - interval '10 minutes' where id = $1")
        .bind(stuck.invitation.id.0)
        .execute(&pool)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let listed = crate::calls::list_invitations(&mut conn, club.id, admin.id)
        .await
        .unwrap();
    let stuck = listed.iter().find(|i| i.id == stuck.invitation.id).unwrap();
    assert!(matches!(stuck.delivery, Delivery::Failed(_)), "{stuck:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn sending_again_makes_a_new_link_and_the_old_one_stops_working(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let first = invite(&pool, club.id, admin.id, "mia@example.org", Trainer).await;
    invitations::mark_failed(&pool, first.invitation.id, "down")
        .await
        .unwrap();
    sqlx::query("update invitations set expires_at = now() - interval '1 day' where id = $1")
        .bind(first.invitation.id.0)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(state(&pool, &first.token).await, InvitationState::Expired);

    let mut tx = pool.begin().await.unwrap();
    let again = crate::calls::resend_invitation(&mut tx, club.id, admin.id, first.invitation.id)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_ne!(again.token, first.token);
    assert_eq!(
        (
            again.invitation.id,
            again.invitation.role,
            again.invitation.state
        ),
        (first.invitation.id, Trainer, InvitationState::Open)
    );
    assert_eq!(again.invitation.delivery, Delivery::Sending);
    assert!(again.invitation.expires_at > chrono::Utc::now() + chrono::Duration::days(13));
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        invitations::details(&mut conn, &first.token)
            .await
            .map(drop),
        Err(AppError::NotFound),
        "the old link is gone"
    );
    assert_eq!(state(&pool, &again.token).await, InvitationState::Open);
    assert_eq!(audit_count(&pool, "invitation.resent").await, 1);
    let mia = account(&pool, "mia", "mia@example.org").await;
    accept(&pool, &again.token, &mia).await.unwrap();
    assert_eq!(
        membership(&pool, club.id, mia.id).await,
        Some((Trainer, Approved))
    );

    // An accepted (or revoked) invitation is not sent again; nor is another society's.
    let result =
        crate::calls::resend_invitation(&mut conn, club.id, admin.id, first.invitation.id).await;
    assert!(is_conflict(&result, "already accepted"), "{result:?}");
    let (other, other_admin) = fx::society_with_admin(&pool, "other").await;
    let result =
        crate::calls::resend_invitation(&mut conn, other.id, other_admin.id, first.invitation.id)
            .await;
    assert_eq!(result.map(drop), Err(AppError::NotFound));
    let member = account(&pool, "member", "member@example.org").await;
    fx::put_membership(&mut conn, club.id, member.id, Member, Approved)
        .await
        .unwrap();
    let result =
        crate::calls::resend_invitation(&mut conn, club.id, member.id, first.invitation.id).await;
    assert_eq!(result.map(drop), Err(AppError::Forbidden));
}
