//! A fresh PostgreSQL database per test (or bench run), dropped with it: shared by this suite
//! and the `backends` bench.

/// The key-encryption key the PostgreSQL runs share (PostgreSQL needs one configured).
pub const TEST_KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

pub struct PgTestDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgTestDb {
    /// A database on the server at `WRIT_TEST_POSTGRES_URL`.
    pub async fn create(prefix: &str) -> PgTestDb {
        let admin_url = std::env::var("WRIT_TEST_POSTGRES_URL").expect(
            "WRIT_TEST_POSTGRES_URL is not set: these tests need a PostgreSQL server \
             (e.g. postgres://postgres@127.0.0.1:5432/test)",
        );
        Self::create_on(admin_url, prefix).await
    }

    /// A database named `{prefix}_…` on the server at `admin_url`.
    pub async fn create_on(admin_url: String, prefix: &str) -> PgTestDb {
        let name = format!(
            "{prefix}_{}",
            writ_service::crypto::random_alnum(12).to_lowercase()
        );
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .expect("PostgreSQL reachable");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        PgTestDb {
            admin_url,
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for PgTestDb {
    /// Drops the database (terminating the test server's connections), on a thread of its own
    /// since this may run inside the test's runtime.
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await
                {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            })
        })
        .join();
    }
}
