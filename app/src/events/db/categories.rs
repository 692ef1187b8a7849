//! A society's own list of event categories ("Beginners", "Squad").

use sqlx::PgConnection;

use super::constraint_message;
use crate::access::SocietyAdmin;
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::events::{checked_category_name, Category};
use crate::ids::{CategoryId, SocietyId};

/// The society's categories, by name.
pub async fn list_categories(
    conn: &mut PgConnection,
    society: SocietyId,
) -> AppResult<Vec<Category>> {
    let rows = sqlx::query_as!(
        Category,
        r#"select id as "id: CategoryId", name from event_categories
            where society_id = $1 order by lower(name)"#,
        society as SocietyId,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows)
}

/// Society admins: adds a category (names are unique in a society, whatever their case).
pub async fn create_category(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    name: &str,
) -> AppResult<Category> {
    let name = checked_category_name(name)?;
    let category = sqlx::query_as!(
        Category,
        r#"insert into event_categories (society_id, name) values ($1, $2)
           returning id as "id: CategoryId", name"#,
        admin.society() as SocietyId,
        name,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| AppError::from_db(e, constraint_message))?;
    super::audit(
        &mut *conn,
        admin,
        AuditAction::CategoryCreated,
        category.id.0,
        serde_json::json!({ "name": category.name }),
    )
    .await?;
    Ok(category)
}

/// Society admins: removes a category; its events keep going without one.
pub async fn delete_category(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    id: CategoryId,
) -> AppResult<()> {
    let name = sqlx::query_scalar!(
        "delete from event_categories where id = $1 and society_id = $2 returning name",
        id as CategoryId,
        admin.society() as SocietyId,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    super::audit(
        &mut *conn,
        admin,
        AuditAction::CategoryDeleted,
        id.0,
        serde_json::json!({ "name": name }),
    )
    .await?;
    Ok(())
}
