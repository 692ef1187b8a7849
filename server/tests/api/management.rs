//! Managing a society over HTTP: who may call what, in which society (the authorization
//! matrix), invitations accepted through the captured email, and the member directory.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::{address, link_in, person, put_membership, spawn_app, wait_for_mail, TestApp};

/// Everything a call could change, as text: compared before and after refused calls.
async fn snapshot(pool: &PgPool) -> String {
    let rows: Vec<String> = sqlx::query_scalar(
        "select concat_ws('|', 'm', society_id, user_id, role, status, decision_reason) from memberships
         union all select concat_ws('|', 'i', id, email, role, accepted_at, revoked_at) from invitations
         union all select concat_ws('|', 's', id, name, description, time_zone, join_policy) from societies
         union all select concat_ws('|', 'a', count(*)) from audit_log
         union all select concat_ws('|', 'o', count(*)) from notification_outbox
         order by 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.join("\n")
}

struct Society {
    admin: TestApp,
    slug: &'static str,
}

async fn create_society(admin: &TestApp, slug: &'static str) -> Society {
    let created = admin
        .call(
            "create_society",
            &[
                ("name", "Harbour Rowing Club"),
                ("slug", slug),
                ("time_zone", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::OK);
    Society {
        admin: admin.other_browser(),
        slug,
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_authorization_matrix_holds_for_every_role_and_society(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    // The Keycloak platform admin creates both societies and is admin of both; each society
    // then gets its own admin by email sign-in, and the platform admin leaves nothing behind
    // that would blur the matrix.
    app.sign_in_oidc("admin", "admin-pass").await;
    create_society(&app, "harbour").await;
    create_society(&app, "river").await;
    let (admin_a, _, admin_a_id) = person(&app, "admin-a").await;
    let (admin_b, _, admin_b_id) = person(&app, "admin-b").await;
    let (trainer, _, trainer_id) = person(&app, "trainer").await;
    let (member, _, member_id) = person(&app, "member").await;
    let (pending, _, pending_id) = person(&app, "pending").await;
    let (suspended, _, suspended_id) = person(&app, "suspended").await;
    let (outsider, _, _) = person(&app, "outsider").await;
    let visitor = app.other_browser();
    put_membership(&pool, "harbour", &admin_a_id, "admin", "approved").await;
    put_membership(&pool, "river", &admin_b_id, "admin", "approved").await;
    put_membership(&pool, "harbour", &trainer_id, "trainer", "approved").await;
    put_membership(&pool, "harbour", &member_id, "member", "approved").await;
    put_membership(&pool, "harbour", &pending_id, "member", "pending").await;
    put_membership(&pool, "harbour", &suspended_id, "admin", "suspended").await;
    // The platform admin steps out of both societies: platform admins have no rights inside
    // a society they are not an admin of.
    sqlx::query("delete from memberships where user_id = (select id from users where issuer <> 'roster:email')")
        .execute(&pool)
        .await
        .unwrap();

    // An open invitation in harbour, for id-guessing.
    let invited = admin_a
        .call(
            "invite_member",
            &[("slug", "harbour"), ("email", &address("invitee"))],
        )
        .await;
    assert_eq!(invited.status(), StatusCode::OK);
    let invitation: serde_json::Value = invited.json().await.unwrap();
    let invitation_id = invitation["id"].as_str().unwrap().to_string();

    let new_email = address("new");
    let calls: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "decide_request",
            vec![("member", &pending_id), ("decision", "approve")],
        ),
        (
            "decide_requests",
            vec![("members[]", &pending_id), ("decision", "reject")],
        ),
        (
            "set_member_role",
            vec![("member", &member_id), ("role", "admin")],
        ),
        (
            "suspend_member",
            vec![("member", &member_id), ("reason", "x")],
        ),
        ("reinstate_member", vec![("member", &suspended_id)]),
        ("remove_member", vec![("member", &member_id)]),
        ("invite_member", vec![("email", &new_email)]),
        ("revoke_invitation", vec![("invitation", &invitation_id)]),
        (
            "update_society_settings",
            vec![
                ("name", "Taken over"),
                ("description", ""),
                ("time_zone", "UTC"),
                ("join_policy", "open"),
            ],
        ),
    ];
    let reads = ["list_requests", "list_invitations", "list_audit_log"];
    let before = snapshot(&pool).await;

    let refused: [(&str, &TestApp, StatusCode); 7] = [
        ("trainer", &trainer, StatusCode::FORBIDDEN),
        ("member", &member, StatusCode::FORBIDDEN),
        ("pending", &pending, StatusCode::FORBIDDEN),
        ("suspended admin", &suspended, StatusCode::FORBIDDEN),
        ("other society's admin", &admin_b, StatusCode::FORBIDDEN),
        ("outsider", &outsider, StatusCode::FORBIDDEN),
        ("visitor", &visitor, StatusCode::UNAUTHORIZED),
    ];
    for (who, browser, expected) in refused {
        for (function, args) in &calls {
            let mut form = vec![("slug", "harbour")];
            form.extend(args.iter().copied());
            let response = browser.call(function, &form).await;
            assert_eq!(response.status(), expected, "{who} calling {function}");
        }
        for function in reads {
            let response = browser.call(function, &[("slug", "harbour")]).await;
            assert_eq!(response.status(), expected, "{who} reading {function}");
        }
        let directory = browser.call("list_members", &[("slug", "harbour")]).await;
        if who == "trainer" {
            assert_eq!(directory.status(), StatusCode::OK);
            let body = directory.text().await.unwrap();
            assert!(
                !body.contains("@example.org"),
                "trainers see no addresses: {body}"
            );
            assert!(body.contains("\"member\"") && !body.contains(&pending_id));
        } else {
            assert_eq!(directory.status(), expected, "{who} reading the directory");
        }
        // The navigation tells nobody but admins how many requests wait.
        let nav: serde_json::Value = browser
            .call("society_nav", &[("slug", "harbour")])
            .await
            .json()
            .await
            .unwrap();
        assert!(
            nav["pending_requests"].is_null(),
            "{who} sees the pending count"
        );
        for page in ["requests", "members", "invitations", "settings", "audit"] {
            if who == "trainer" && page == "members" {
                continue;
            }
            let status = browser.get(&format!("/s/harbour/{page}")).await.status();
            assert_eq!(status, expected, "{who} opening /s/harbour/{page}");
        }
    }

    // The other society's admin guesses harbour's ids through their own society: nothing
    // there matches, so nothing is found and nothing changes.
    for (function, args) in &calls {
        if *function == "invite_member" || *function == "update_society_settings" {
            continue;
        }
        let mut form = vec![("slug", "river")];
        form.extend(args.iter().copied());
        let response = admin_b.call(function, &form).await;
        let status = response.status();
        if *function == "decide_requests" {
            // Bulk decisions skip what they cannot find.
            assert_eq!(status, StatusCode::OK);
            let outcome: serde_json::Value = response.json().await.unwrap();
            assert_eq!(
                (outcome["decided"].as_u64(), outcome["skipped"].as_u64()),
                (Some(0), Some(1))
            );
        } else {
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "guessing through river: {function}"
            );
        }
    }
    let river_members: serde_json::Value = admin_b
        .call("list_members", &[("slug", "river")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(river_members["total"], 1, "only river's admin");
    assert_eq!(
        snapshot(&pool).await,
        before,
        "refused calls changed nothing"
    );

    // The same calls by harbour's admin all work, in order, each with its own effect: the
    // refusals above were about the caller.
    let state_of = |user: &str| {
        let (pool, user) = (pool.clone(), user.to_string());
        async move {
            sqlx::query_scalar::<_, String>(
                "select m.role || '/' || m.status from memberships m join societies s on s.id = m.society_id
                  where s.slug = 'harbour' and m.user_id = $1::uuid",
            )
            .bind(user)
            .fetch_optional(&pool)
            .await
            .unwrap()
        }
    };
    for (function, args) in &calls {
        let mut form = vec![("slug", "harbour")];
        form.extend(args.iter().copied());
        let response = admin_a.call(function, &form).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "admin calling {function}: {body}");
        match *function {
            "decide_request" => {
                assert_eq!(
                    state_of(&pending_id).await.as_deref(),
                    Some("member/approved")
                )
            }
            // Decided a moment ago by the single decision: skipped, not decided twice.
            "decide_requests" => assert_eq!(
                serde_json::from_str::<serde_json::Value>(&body).unwrap(),
                serde_json::json!({ "decided": 0, "skipped": 1 })
            ),
            "set_member_role" => {
                assert_eq!(
                    state_of(&member_id).await.as_deref(),
                    Some("admin/approved")
                )
            }
            "suspend_member" => {
                assert_eq!(
                    state_of(&member_id).await.as_deref(),
                    Some("admin/suspended")
                )
            }
            "reinstate_member" => {
                assert_eq!(
                    state_of(&suspended_id).await.as_deref(),
                    Some("admin/approved")
                )
            }
            "remove_member" => assert_eq!(state_of(&member_id).await, None),
            "invite_member" => {
                let sent: bool = sqlx::query_scalar(
                    "select sent_at is not null from invitations where email = $1 and revoked_at is null",
                )
                .bind(&new_email)
                .fetch_one(&pool)
                .await
                .unwrap();
                assert!(sent, "the invitation was mailed and marked sent");
            }
            "revoke_invitation" => {
                let revoked: bool = sqlx::query_scalar(
                    "select revoked_at is not null from invitations where id = $1::uuid",
                )
                .bind(&invitation_id)
                .fetch_one(&pool)
                .await
                .unwrap();
                assert!(revoked);
            }
            "update_society_settings" => {
                let (name, policy): (String, String) = sqlx::query_as(
                    "select name, join_policy::text from societies where slug = 'harbour'",
                )
                .fetch_one(&pool)
                .await
                .unwrap();
                assert_eq!((name.as_str(), policy.as_str()), ("Taken over", "open"));
            }
            other => panic!("no effect check for {other}"),
        }
    }
    for function in reads {
        let response = admin_a.call(function, &[("slug", "harbour")]).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "admin reading {function}"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn an_invitation_is_accepted_through_the_emailed_link(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    let society = create_society(&app, "harbour").await;
    let admin = &app;
    let email = address("invitee");

    let seen = crate::captured_mail_to(&email).len();
    let invited = admin
        .call(
            "invite_member",
            &[
                ("slug", society.slug),
                ("email", &email.to_uppercase()),
                ("role", "trainer"),
            ],
        )
        .await;
    assert_eq!(invited.status(), StatusCode::OK);
    let mail = wait_for_mail(&email, seen).await;
    assert!(
        mail.contains("Subject: You are invited to join Harbour Rowing Club"),
        "{mail}"
    );
    let link = url::Url::parse(&link_in(&mail)).unwrap();
    assert!(link.path().starts_with("/invitations/"));
    let token = link.path().trim_start_matches("/invitations/").to_string();

    // The link's page, before signing in, offers to sign in with the invited address.
    let invitee = app.other_browser();
    let page = invitee.page(link.clone()).await;
    assert!(page.contains("Join Harbour Rowing Club"));
    assert!(page.contains(&email));

    // Someone else, signed in with another address, cannot use it.
    let stranger = app.other_browser();
    stranger.sign_in_email(&address("stranger"), "/").await;
    let refused = stranger
        .call("accept_invitation", &[("token", &token)])
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(refused.text().await.unwrap().contains("signed in as"));

    // The invitee signs in by email link, comes back to the invitation, and accepts.
    let back = invitee.sign_in_email(&email, link.path()).await;
    assert_eq!(back, link.path());
    let accepted = invitee
        .call("accept_invitation", &[("token", &token)])
        .await;
    assert_eq!(accepted.status(), StatusCode::OK);
    let mine: serde_json::Value = invitee
        .call("my_membership", &[("slug", "harbour")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (mine["status"].as_str(), mine["role"].as_str()),
        (Some("approved"), Some("trainer"))
    );
    // Single use: the link now only says it was accepted.
    assert_eq!(
        stranger
            .call("accept_invitation", &[("token", &token)])
            .await
            .status(),
        StatusCode::CONFLICT
    );
    let page = invitee.page(link.clone()).await;
    assert!(page.contains("This invitation has been accepted."));

    let list: serde_json::Value = admin
        .call("list_invitations", &[("slug", "harbour")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["state"], "accepted");
    assert_eq!(list[0]["delivery"], "Sent");
    // A sign-in through Keycloak from the invitation page keeps `next` only in a cookie.
    let visitor = app.other_browser();
    visitor
        .begin_login(&app::paths::encode_query_value(link.path()))
        .await;
    // The secret is nowhere in the database: not in sign-in links, sessions or the outbox.
    crate::assert_not_stored(&pool, &token).await;
    let _ = society.admin;
}

#[sqlx::test(migrations = "../migrations")]
async fn invitations_are_revoked_and_bad_input_is_a_4xx(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    create_society(&app, "harbour").await;
    let email = address("revoked");
    let seen = crate::captured_mail_to(&email).len();
    let invitation: serde_json::Value = app
        .call("invite_member", &[("slug", "harbour"), ("email", &email)])
        .await
        .json()
        .await
        .unwrap();
    let link = link_in(&wait_for_mail(&email, seen).await);
    let token = link.rsplit('/').next().unwrap().to_string();
    let id = invitation["id"].as_str().unwrap();
    assert_eq!(
        app.call(
            "revoke_invitation",
            &[("slug", "harbour"), ("invitation", id)]
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.call(
            "revoke_invitation",
            &[("slug", "harbour"), ("invitation", id)]
        )
        .await
        .status(),
        StatusCode::CONFLICT
    );
    let invitee = app.other_browser();
    invitee.sign_in_email(&email, "/").await;
    let refused = invitee
        .call("accept_invitation", &[("token", &token)])
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(refused.text().await.unwrap().contains("withdrawn"));
    assert_eq!(
        invitee
            .get(&format!("/invitations/{token}x"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    let before: i64 = sqlx::query_scalar("select count(*) from invitations")
        .fetch_one(&pool)
        .await
        .unwrap();
    for (field, value, expected) in [
        ("email", "not an address", StatusCode::UNPROCESSABLE_ENTITY),
        ("email", "", StatusCode::UNPROCESSABLE_ENTITY),
        ("role", "owner", StatusCode::BAD_REQUEST),
    ] {
        let mut form = vec![("slug", "harbour"), ("email", "ok@example.org")];
        form.retain(|(k, _)| *k != field);
        form.push((field, value));
        let response = app.call("invite_member", &form).await;
        assert_eq!(response.status(), expected, "{field}={value}");
    }
    assert_eq!(
        app.call(
            "revoke_invitation",
            &[("slug", "harbour"), ("invitation", "nope")]
        )
        .await
        .status(),
        StatusCode::BAD_REQUEST
    );
    let after: i64 = sqlx::query_scalar("select count(*) from invitations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(before, after);
}

#[sqlx::test(migrations = "../migrations")]
async fn admins_manage_members_and_the_last_admin_stays(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    create_society(&app, "harbour").await;
    let admin_id: String = sqlx::query_scalar("select id::text from users")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (member, _, member_id) = person(&app, "member").await;
    put_membership(&pool, "harbour", &member_id, "member", "approved").await;

    let last = app
        .call(
            "set_member_role",
            &[
                ("slug", "harbour"),
                ("member", &admin_id),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(last.status(), StatusCode::CONFLICT);
    assert!(last.text().await.unwrap().contains("last admin"));
    for function in ["suspend_member", "remove_member"] {
        let response = app
            .call(function, &[("slug", "harbour"), ("member", &admin_id)])
            .await;
        assert_eq!(response.status(), StatusCode::CONFLICT, "{function}");
    }

    let suspend = app
        .call(
            "suspend_member",
            &[
                ("slug", "harbour"),
                ("member", &member_id),
                ("reason", "Unpaid fees"),
            ],
        )
        .await;
    assert_eq!(suspend.status(), StatusCode::OK);
    let page = member.get("/s/harbour").await.text().await.unwrap();
    assert!(page.contains("suspended") && page.contains("Unpaid fees"));
    assert_eq!(
        member
            .call("list_members", &[("slug", "harbour")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(
            "reinstate_member",
            &[("slug", "harbour"), ("member", &member_id)]
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.call(
            "set_member_role",
            &[
                ("slug", "harbour"),
                ("member", &member_id),
                ("role", "admin")
            ]
        )
        .await
        .status(),
        StatusCode::OK
    );
    // Now there are two admins: the first may step down.
    assert_eq!(
        app.call(
            "set_member_role",
            &[
                ("slug", "harbour"),
                ("member", &admin_id),
                ("role", "trainer")
            ]
        )
        .await
        .status(),
        StatusCode::OK
    );
    let nav: serde_json::Value = app
        .call("society_nav", &[("slug", "harbour")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(nav["role"], "trainer");

    let audit: serde_json::Value = member
        .call("list_audit_log", &[("slug", "harbour")])
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "membership.role_changed",
            "membership.role_changed",
            "membership.reinstated",
            "membership.suspended",
            "society.created"
        ]
    );
    assert!(audit["entries"][3]["detail"]
        .as_str()
        .unwrap()
        .contains("Unpaid fees"));
}

#[sqlx::test(migrations = "../migrations")]
async fn many_requests_are_decided_at_once_and_the_nav_counts_them(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.sign_in_oidc("admin", "admin-pass").await;
    create_society(&app, "harbour").await;
    let mut ids = Vec::new();
    for who in ["ann", "ben", "cat"] {
        let (browser, _, id) = person(&app, who).await;
        let asked = browser
            .call("request_membership", &[("slug", "harbour")])
            .await;
        assert_eq!(asked.status(), StatusCode::OK);
        ids.push(id);
    }
    let nav: serde_json::Value = app
        .call("society_nav", &[("slug", "harbour")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(nav["pending_requests"], 3);
    let html = app.get("/s/harbour/requests").await.text().await.unwrap();
    assert!(html.contains("data-testid=\"pending-count\""));

    let decided = app
        .call(
            "decide_requests",
            &[
                ("slug", "harbour"),
                ("members[]", &ids[0]),
                ("members[]", &ids[1]),
                ("decision", "approve"),
                ("reason", "Welcome aboard"),
            ],
        )
        .await;
    assert_eq!(decided.status(), StatusCode::OK);
    let outcome: serde_json::Value = decided.json().await.unwrap();
    assert_eq!(
        (outcome["decided"].as_u64(), outcome["skipped"].as_u64()),
        (Some(2), Some(0))
    );
    let again = app
        .call(
            "decide_requests",
            &[
                ("slug", "harbour"),
                ("members[]", &ids[1]),
                ("members[]", &ids[2]),
                ("decision", "reject"),
            ],
        )
        .await;
    let outcome: serde_json::Value = again.json().await.unwrap();
    assert_eq!(
        (outcome["decided"].as_u64(), outcome["skipped"].as_u64()),
        (Some(1), Some(1))
    );
    let none = app
        .call(
            "decide_requests",
            &[("slug", "harbour"), ("decision", "approve")],
        )
        .await;
    assert_eq!(none.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let directory: serde_json::Value = app
        .call(
            "list_members",
            &[("slug", "harbour"), ("status", "approved"), ("q", "ann")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(directory["total"], 1);
    assert!(directory["entries"][0]["email"]
        .as_str()
        .unwrap()
        .starts_with("ann-"));
    let html = app
        .get("/s/harbour/members?q=ann&status=approved")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("1 person"));
}

#[sqlx::test(migrations = "../migrations")]
async fn an_invitation_whose_email_fails_is_kept_shown_as_not_sent_and_sent_again(pool: PgPool) {
    // The mail server is down for the first app; the invitation is saved all the same.
    let down = crate::spawn_app_with(pool.clone(), |c| {
        c.mail = server::config::MailConfig::Smtp(String::from("smtp://127.0.0.1:9").into())
    })
    .await;
    down.sign_in_oidc("admin", "admin-pass").await;
    create_society(&down, "harbour").await;
    let email = address("unlucky");
    let invited = down
        .call("invite_member", &[("slug", "harbour"), ("email", &email)])
        .await;
    assert_eq!(invited.status(), StatusCode::OK);
    let invitation: serde_json::Value = invited.json().await.unwrap();
    assert!(
        invitation["delivery"]["Failed"].as_str().is_some(),
        "{invitation}"
    );
    let id = invitation["id"].as_str().unwrap().to_string();
    let listed: serde_json::Value = down
        .call("list_invitations", &[("slug", "harbour")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (listed[0]["id"].as_str(), listed[0]["state"].as_str()),
        (Some(id.as_str()), Some("open"))
    );
    assert!(listed[0]["delivery"]["Failed"].is_string(), "{listed}");
    let page = down
        .get("/s/harbour/invitations")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Not sent:") && page.contains("Send again"),
        "{page}"
    );

    // Back up: the admin sends it again and the invitee gets a working link.
    let up = spawn_app(pool.clone()).await;
    up.sign_in_oidc("admin", "admin-pass").await;
    let seen = crate::captured_mail_to(&email).len();
    let resent = up
        .call(
            "resend_invitation",
            &[("slug", "harbour"), ("invitation", &id)],
        )
        .await;
    assert_eq!(resent.status(), StatusCode::OK);
    let resent: serde_json::Value = resent.json().await.unwrap();
    assert_eq!(resent["delivery"], "Sent");
    let link = link_in(&wait_for_mail(&email, seen).await);
    let token = link.rsplit('/').next().unwrap().to_string();
    let invitee = up.other_browser();
    invitee.sign_in_email(&email, "/").await;
    let accepted = invitee
        .call("accept_invitation", &[("token", &token)])
        .await;
    assert_eq!(
        accepted.status(),
        StatusCode::OK,
        "{}",
        accepted.text().await.unwrap()
    );
    let audit: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action in ('invitation.created', 'invitation.resent')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audit, 2);
}
