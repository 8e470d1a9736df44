//! The MCP server itself: two tools, served by rmcp's tool router.
//!
//! `whoami` shows how a tool learns who calls it: rmcp's streamable HTTP
//! service puts the HTTP request's [`Parts`] in the request context, and
//! [`proofkey_resource::RequireBearer`] has put the token's
//! [`AccessClaims`] in their extensions before the request reached rmcp.
//! [`Caller`] is the extractor that reads them.

use axum::http::request::Parts;
use proofkey_resource::AccessClaims;
use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{schemars, tool, tool_handler, tool_router, ErrorData, ServerHandler};
use serde::{Deserialize, Serialize};

/// The tools. rmcp makes one value per MCP session.
#[derive(Debug, Clone)]
pub struct ExampleTools {
    tool_router: ToolRouter<Self>,
}

impl Default for ExampleTools {
    fn default() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }
}

/// The caller, as the access token of the tool call's HTTP request says.
#[derive(Debug, Clone)]
pub struct Caller(pub AccessClaims);

impl<S> FromContextPart<ToolCallContext<'_, S>> for Caller {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, ErrorData> {
        context
            .request_context()
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<AccessClaims>())
            .cloned()
            .map(Caller)
            // Served without the layer (another transport, or a routing
            // bug): refuse rather than run anonymously.
            .ok_or_else(|| {
                tracing::error!("tool called without the claims of a checked access token");
                ErrorData::internal_error("the caller is not authenticated", None)
            })
    }
}

/// What `whoami` answers.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct WhoAmI {
    /// The user (the token's `sub`).
    pub sub: String,
    /// The MCP client the user authorized (the token's `client_id`).
    pub client_id: String,
    /// The scopes granted to it.
    pub scopes: Vec<String>,
}

/// `add`'s arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct AddRequest {
    /// The first number.
    pub a: f64,
    /// The second number.
    pub b: f64,
}

/// `add`'s answer.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct AddResult {
    /// `a + b`.
    pub sum: f64,
}

#[tool_router]
impl ExampleTools {
    /// The token's subject and client: who is calling this server.
    #[tool(
        description = "Who is calling: the user (sub) and the MCP client (client_id) of the access token"
    )]
    async fn whoami(&self, Caller(claims): Caller) -> Json<WhoAmI> {
        Json(WhoAmI {
            scopes: claims.scopes().map(str::to_owned).collect(),
            sub: claims.sub,
            client_id: claims.client_id,
        })
    }

    /// Adds two numbers.
    #[tool(description = "Add two numbers")]
    async fn add(
        &self,
        Parameters(AddRequest { a, b }): Parameters<AddRequest>,
    ) -> Json<AddResult> {
        Json(AddResult { sum: a + b })
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ExampleTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "An example MCP server protected by proofkey: `whoami` shows the \
                 caller's token, `add` adds two numbers.",
            )
    }
}
