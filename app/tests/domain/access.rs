//! The access checks and the proofs they return.

use app::access::{self, MembershipRole, MembershipStatus};
use app::error::AppError;
use app::ids::SocietyId;
use sqlx::PgPool;

use crate::fx;

use MembershipRole::{Admin, Member, Trainer};
use MembershipStatus::{Approved, Pending, Rejected, Suspended};

#[sqlx::test(migrations = "../migrations")]
async fn each_check_admits_exactly_the_approved_roles_it_names(pool: PgPool) {
    let (club, _) = fx::society_with_admin(&pool, "club").await;
    let (other, _) = fx::society_with_admin(&pool, "other").await;
    let mut conn = pool.acquire().await.unwrap();
    // (role, status) → may pass (member, staff, admin)
    let cases = [
        (Member, Approved, [true, false, false]),
        (Trainer, Approved, [true, true, false]),
        (Admin, Approved, [true, true, true]),
        (Admin, Pending, [false, false, false]),
        (Admin, Suspended, [false, false, false]),
        (Trainer, Rejected, [false, false, false]),
    ];
    for (i, (role, status, allowed)) in cases.into_iter().enumerate() {
        let user = fx::user(&pool, &format!("user-{i}"), false).await;
        fx::put_membership(&mut conn, club.id, user.id, role, status)
            .await
            .unwrap();
        let member = access::require_member(&mut conn, club.id, user.id).await;
        let staff = access::require_staff(&mut conn, club.id, user.id).await;
        let admin = access::require_admin(&mut conn, club.id, user.id).await;
        let locked = access::lock_as_admin(&mut conn, club.id, user.id).await;
        let passed = [member.is_ok(), staff.is_ok(), admin.is_ok()];
        assert_eq!(passed, allowed, "{role:?} {status:?}");
        assert_eq!(
            locked.is_ok(),
            allowed[2],
            "{role:?} {status:?}: lock_as_admin"
        );
        if let Ok(proof) = member {
            assert_eq!(
                (proof.society(), proof.user(), proof.role()),
                (club.id, user.id, role)
            );
        }
        if let Ok(proof) = staff {
            assert_eq!(proof.is_admin(), role == Admin);
        }
        for refused in [
            access::require_member(&mut conn, club.id, user.id)
                .await
                .err(),
            access::require_staff(&mut conn, club.id, user.id)
                .await
                .err(),
            access::require_admin(&mut conn, club.id, user.id)
                .await
                .err(),
        ]
        .into_iter()
        .flatten()
        {
            assert_eq!(refused, AppError::Forbidden);
        }
        // A role in one society is nothing in another.
        assert_eq!(
            access::require_member(&mut conn, other.id, user.id)
                .await
                .err(),
            Some(AppError::Forbidden)
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn an_unknown_society_is_forbidden_like_any_other_and_unknown_slugs_are_not_found(
    pool: PgPool,
) {
    let (_, admin) = fx::society_with_admin(&pool, "club").await;
    let mut conn = pool.acquire().await.unwrap();
    let nowhere = SocietyId(uuid::Uuid::new_v4());
    assert_eq!(
        access::lock_as_admin(&mut conn, nowhere, admin.id)
            .await
            .err(),
        Some(AppError::Forbidden)
    );
    assert_eq!(
        access::require_admin(&mut conn, nowhere, admin.id)
            .await
            .err(),
        Some(AppError::Forbidden)
    );
    assert_eq!(
        access::society_by_slug(&pool, "nowhere").await,
        Err(AppError::NotFound)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn only_platform_admins_get_the_proof_to_create_societies(pool: PgPool) {
    let root = fx::user(&pool, "root", true).await;
    let mia = fx::user(&pool, "mia", false).await;
    assert_eq!(
        access::require_platform_admin(&root).unwrap().user(),
        root.id
    );
    assert_eq!(
        access::require_platform_admin(&mia).err(),
        Some(AppError::Forbidden)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn lock_as_admin_holds_the_society_row_until_the_transaction_ends(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mut tx = pool.begin().await.unwrap();
    access::lock_as_admin(&mut tx, club.id, admin.id)
        .await
        .unwrap();
    let waiting = fx::in_background(&pool, move |c| {
        Box::pin(async move { access::lock_society(c, club.id).await })
    });
    fx::wait_until_blocked(&pool, 1).await;
    assert!(!waiting.is_finished());
    tx.commit().await.unwrap();
    assert_eq!(waiting.await.unwrap(), Ok(()));
}
