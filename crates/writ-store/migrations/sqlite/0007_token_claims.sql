-- What an API's access tokens carry besides `permissions` (roles, groups, the Authorization
-- Extension's object, and their claim names): a JSON object read as `writ_core::TokenClaims`,
-- `{}` for every existing API (nothing more than before).
ALTER TABLE resource_servers ADD COLUMN token_claims TEXT NOT NULL DEFAULT '{}';
