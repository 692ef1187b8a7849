//! Deciding requests, one or many at once.

use super::*;

/// How many audit rows record a decision on `member`'s request.
async fn decisions_on(pool: &PgPool, member: UserId) -> i64 {
    sqlx::query_scalar(
        "select count(*) from audit_log
          where action in ('membership.approved', 'membership.rejected') and subject_id = $1",
    )
    .bind(member.0.to_string())
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn bulk_approval_decides_each_request_with_its_own_audit_row(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let ids = applicants(&pool, club.id, "applicant", 5).await;
    let mut tx = pool.begin().await.unwrap();
    let outcome = members::decide_many(
        &mut tx,
        club.id,
        admin.id,
        &ids,
        Decision::Approve,
        " Welcome aboard ",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    assert_eq!((outcome.decided, outcome.skipped), (5, 0));
    let mut conn = pool.acquire().await.unwrap();
    for id in &ids {
        assert_eq!(
            membership(&pool, club.id, *id).await,
            Some((Member, Approved, "Welcome aboard".into()))
        );
        assert_eq!(
            members::require_role(&mut conn, club.id, *id, Member).await,
            Ok(Member)
        );
        assert_eq!(decisions_on(&pool, *id).await, 1);
    }
    let rows = audit_rows(&pool, "membership.approved").await;
    assert_eq!(rows.len(), 5);
    assert!(rows
        .iter()
        .all(|(actor, _, d)| *actor == Some(admin.id.0)
            && *d == json!({ "reason": "Welcome aboard" })));
    let mut told: Vec<Uuid> = outbox(&pool, "membership.approved")
        .await
        .into_iter()
        .map(|(to, _)| to.unwrap())
        .collect();
    told.sort();
    let mut expected: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    expected.sort();
    assert_eq!(told, expected, "each person is told once");
    assert_eq!(
        members::pending_count(&mut conn, club.id, admin.id).await,
        Ok(0)
    );

    // Naming someone twice decides them once.
    let more = applicants(&pool, club.id, "twice", 1).await;
    let outcome = members::decide_many(
        &mut conn,
        club.id,
        admin.id,
        &[more[0], more[0]],
        Decision::Reject,
        "",
    )
    .await
    .unwrap();
    assert_eq!(outcome.decided, 1);
    assert_eq!(decisions_on(&pool, more[0]).await, 1);
    assert_eq!(
        membership(&pool, club.id, more[0]).await.map(|m| m.1),
        Some(Rejected)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn bulk_decisions_skip_and_count_what_is_no_longer_pending(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let (other, _) = fx::society_with_admin(&pool, "other").await;
    let ids = applicants(&pool, club.id, "applicant", 4).await;
    let elsewhere = applicants(&pool, other.id, "elsewhere", 1).await[0];
    let member = joined(&pool, club.id, "mia", Trainer, Approved).await;
    let stranger = fx::user(&pool, "stranger", false).await;
    let mut conn = pool.acquire().await.unwrap();
    members::decide(
        &mut conn,
        club.id,
        admin.id,
        ids[0],
        Decision::Reject,
        "Full",
    )
    .await
    .unwrap();

    let outcome = members::decide_many(
        &mut conn,
        club.id,
        admin.id,
        &[
            ids[0],
            ids[1],
            ids[2],
            member.id,
            stranger.id,
            elsewhere,
            UserId(Uuid::new_v4()),
        ],
        Decision::Approve,
        "",
    )
    .await
    .unwrap();

    assert_eq!((outcome.decided, outcome.skipped), (2, 5));
    assert_eq!(
        membership(&pool, club.id, ids[0]).await,
        Some((Member, Rejected, "Full".into())),
        "the earlier decision stands"
    );
    for id in [ids[1], ids[2]] {
        assert_eq!(
            membership(&pool, club.id, id).await.map(|m| m.1),
            Some(Approved)
        );
    }
    assert_eq!(
        membership(&pool, club.id, ids[3]).await.map(|m| m.1),
        Some(Pending)
    );
    assert_eq!(
        membership(&pool, club.id, member.id).await,
        Some((Trainer, Approved, String::new()))
    );
    assert_eq!(membership(&pool, club.id, stranger.id).await, None);
    assert_eq!(
        membership(&pool, other.id, elsewhere).await.map(|m| m.1),
        Some(Pending),
        "another society's request is not touched"
    );
    assert_eq!(audit_rows(&pool, "membership.approved").await.len(), 2);
    assert_eq!(outbox(&pool, "membership.approved").await.len(), 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn bulk_decisions_take_one_to_200_requests_and_a_short_reason(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let ids = applicants(&pool, club.id, "applicant", 2).await;
    let before = snapshot(&pool).await;
    let mut conn = pool.acquire().await.unwrap();

    let err = members::decide_many(&mut conn, club.id, admin.id, &[], Decision::Approve, "")
        .await
        .unwrap_err();
    assert!(err.field_message("members").is_some(), "{err:?}");

    let mut many: Vec<UserId> = (0..MAX_BULK).map(|_| UserId(Uuid::new_v4())).collect();
    many.extend(&ids);
    assert_eq!(many.len(), MAX_BULK + 2);
    let err = members::decide_many(&mut conn, club.id, admin.id, &many, Decision::Approve, "")
        .await
        .unwrap_err();
    assert!(err.field_message("members").is_some(), "{err:?}");

    let long = "x".repeat(1001);
    let err = members::decide_many(&mut conn, club.id, admin.id, &ids, Decision::Approve, &long)
        .await
        .unwrap_err();
    assert!(err.field_message("reason").is_some(), "{err:?}");
    assert_eq!(snapshot(&pool).await, before, "nothing written");

    // Exactly 200, with a reason of exactly 1000 characters, is fine.
    let mut most: Vec<UserId> = (0..MAX_BULK - 1).map(|_| UserId(Uuid::new_v4())).collect();
    most.push(ids[0]);
    let reason = "é".repeat(1000);
    let outcome = members::decide_many(
        &mut conn,
        club.id,
        admin.id,
        &most,
        Decision::Approve,
        &reason,
    )
    .await
    .unwrap();
    assert_eq!((outcome.decided, outcome.skipped), (1, MAX_BULK as u32 - 1));
    assert_eq!(
        membership(&pool, club.id, ids[0]).await,
        Some((Member, Approved, reason))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn two_bulk_decisions_over_overlapping_sets_decide_each_request_once(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let second = joined(&pool, club.id, "second-admin", Admin, Approved).await;
    let ids = applicants(&pool, club.id, "applicant", 40).await;
    let first_set: Vec<UserId> = ids[..30].to_vec();
    // The other admin names them in the opposite order: no deadlock either way.
    let second_set: Vec<UserId> = ids[10..].iter().rev().copied().collect();

    // The first admin's decisions are made and not yet committed; the second admin's call
    // waits for them, then finds twenty of its forty already decided.
    let mut tx = pool.begin().await.unwrap();
    let a = members::decide_many(
        &mut tx,
        club.id,
        admin.id,
        &first_set,
        Decision::Approve,
        "",
    )
    .await
    .unwrap();
    let later = fx::in_background(&pool, move |c| {
        Box::pin(async move {
            members::decide_many(c, club.id, second.id, &second_set, Decision::Reject, "").await
        })
    });
    fx::wait_until_blocked(&pool, 1).await;
    tx.commit().await.unwrap();
    let b = later.await.unwrap().unwrap();

    assert_eq!((a.decided, a.skipped), (30, 0));
    assert_eq!((b.decided, b.skipped), (10, 20));
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(decisions_on(&pool, *id).await, 1, "applicant {i}");
        let told: i64 =
            sqlx::query_scalar("select count(*) from notification_outbox where recipient_id = $1")
                .bind(id.0)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(told, 1, "applicant {i}: one decision, one notification");
        let expected = if i < 30 { Approved } else { Rejected };
        assert_eq!(
            membership(&pool, club.id, *id).await.map(|m| m.1),
            Some(expected),
            "applicant {i}"
        );
    }
}

// Regression: deciding a request while another admin acts on the same person must not
// deadlock: every admin action locks the society row first, then membership rows. A third
// transaction holding the society row (a settings change) makes both wait, in turn.
#[sqlx::test(migrations = "../migrations")]
async fn deciding_a_request_while_another_admin_acts_on_the_same_person_does_not_fail(
    pool: PgPool,
) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let second = joined(&pool, club.id, "second-admin", Admin, Approved).await;
    let applicant = applicants(&pool, club.id, "applicant", 1).await[0];

    // A settings change holds the society row...
    let mut settings_tx = pool.begin().await.unwrap();
    crate::calls::update_settings(
        &mut settings_tx,
        club.id,
        admin.id,
        settings("Harbour RC", "", "Europe/Berlin", JoinPolicy::Approval),
    )
    .await
    .unwrap();
    let in_turn = |what: &'static str| {
        fx::in_background(&pool, move |c| {
            Box::pin(async move {
                match what {
                    "suspend" => members::suspend(c, club.id, second.id, applicant, "")
                        .await
                        .map(|()| Suspended),
                    _ => {
                        members::decide(c, club.id, admin.id, applicant, Decision::Approve, "")
                            .await
                    }
                }
            })
        })
    };
    // ...while the second admin suspends the applicant (waiting for the society row)...
    let suspension = in_turn("suspend");
    fx::wait_until_blocked(&pool, 1).await;
    // ...and then the first admin approves the request (waiting behind the suspension).
    let decision = in_turn("decide");
    fx::wait_until_blocked(&pool, 2).await;
    settings_tx.commit().await.unwrap();
    let (suspended, decided) = (suspension.await.unwrap(), decision.await.unwrap());

    // The suspension came first, while the request was still pending; then the approval.
    // Neither call failed on the database.
    assert!(is_conflict(&suspended.map(drop), "not been approved"));
    assert_eq!(decided, Ok(Approved));
    assert_eq!(decisions_on(&pool, applicant).await, 1);
    assert_eq!(
        membership(&pool, club.id, applicant).await.map(|m| m.1),
        Some(Approved)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_over_long_reason_is_refused_and_nothing_is_written(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mia = joined(&pool, club.id, "mia", Member, Approved).await;
    let pia = applicants(&pool, club.id, "pia", 1).await[0];
    let before = snapshot(&pool).await;
    let mut conn = pool.acquire().await.unwrap();
    let c = &mut *conn;
    let long = "x".repeat(1001);

    let results = [
        members::suspend(c, club.id, admin.id, mia.id, &long).await,
        members::remove(c, club.id, admin.id, mia.id, &long).await,
        members::decide(c, club.id, admin.id, pia, Decision::Reject, &long)
            .await
            .map(drop),
        members::decide_many(c, club.id, admin.id, &[pia], Decision::Reject, &long)
            .await
            .map(drop),
    ];
    for result in results {
        assert!(
            result
                .as_ref()
                .unwrap_err()
                .field_message("reason")
                .is_some(),
            "{result:?}"
        );
    }
    assert_eq!(snapshot(&pool).await, before, "nothing written");

    // 1000 characters (after trimming) are fine.
    let longest = format!("  {}  ", "y".repeat(1000));
    members::suspend(c, club.id, admin.id, mia.id, &longest)
        .await
        .unwrap();
    assert_eq!(
        membership(&pool, club.id, mia.id).await,
        Some((Member, Suspended, "y".repeat(1000)))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn pending_count_counts_the_waiting_requests_of_this_society(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let (other, _) = fx::society_with_admin(&pool, "other").await;
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        members::pending_count(&mut conn, club.id, admin.id).await,
        Ok(0)
    );
    let ids = applicants(&pool, club.id, "applicant", 3).await;
    applicants(&pool, other.id, "elsewhere", 2).await;
    joined(&pool, club.id, "mia", Member, Approved).await;
    joined(&pool, club.id, "rick", Member, Rejected).await;
    joined(&pool, club.id, "sue", Member, Suspended).await;
    assert_eq!(
        members::pending_count(&mut conn, club.id, admin.id).await,
        Ok(3)
    );
    members::decide(&mut conn, club.id, admin.id, ids[0], Decision::Approve, "")
        .await
        .unwrap();
    members::withdraw(&mut conn, club.id, ids[1]).await.unwrap();
    assert_eq!(
        members::pending_count(&mut conn, club.id, admin.id).await,
        Ok(1)
    );
    let trainer = joined(&pool, club.id, "trainer", Trainer, Approved).await;
    assert_eq!(
        members::pending_count(&mut conn, club.id, trainer.id).await,
        Err(AppError::Forbidden)
    );
}
