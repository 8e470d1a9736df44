//! The MCP side: the streamable HTTP handshake with a valid token, and the
//! tools, `whoami` reading the caller from the token's claims.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Setup;
use serde_json::json;

#[tokio::test]
async fn tools_are_listed() {
    let s = Setup::start().await;
    let token = s.good_token();
    let session = s.initialize(&token).await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let resp = s
        .post(Some(&token), Some(&session), &list)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer = common::response_for(resp, 2).await;
    let mut names: Vec<&str> = answer["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["add", "whoami"]);
}

#[tokio::test]
async fn whoami_answers_the_tokens_subject_and_client() {
    let s = Setup::start().await;
    let token = s.good_token();
    let session = s.initialize(&token).await;
    let answer = s.call_tool(&token, &session, 2, "whoami", json!({})).await;
    let result = &answer["result"];
    assert_eq!(result["isError"], json!(false), "{answer}");
    assert_eq!(
        result["structuredContent"],
        json!({"sub": "demo", "client_id": "inspector", "scopes": ["openid", "mcp:tools"]})
    );
}

#[tokio::test]
async fn the_caller_is_the_token_of_each_request_not_of_the_session() {
    // Every request is authenticated on its own (MCP: sessions are not
    // authentication); a tool sees the claims of the request that called it.
    let s = Setup::start().await;
    let first = s.good_token();
    let session = s.initialize(&first).await;
    let mut claims = s.claims();
    claims["sub"] = json!("someone-else");
    let second = s.token(&claims);
    let answer = s.call_tool(&second, &session, 2, "whoami", json!({})).await;
    assert_eq!(answer["result"]["structuredContent"]["sub"], "someone-else");
}

#[tokio::test]
async fn a_session_is_no_credential() {
    let s = Setup::start().await;
    let session = s.initialize(&s.good_token()).await;
    let call = json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}}
    });
    let resp = s.post(None, Some(&session), &call).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn add_adds() {
    let s = Setup::start().await;
    let token = s.good_token();
    let session = s.initialize(&token).await;
    let answer = s
        .call_tool(&token, &session, 2, "add", json!({"a": 2, "b": 3.5}))
        .await;
    assert_eq!(answer["result"]["structuredContent"], json!({"sum": 5.5}));
    let bad = s
        .call_tool(&token, &session, 3, "add", json!({"a": "two"}))
        .await;
    assert!(
        bad.get("error").is_some() || bad["result"]["isError"] == true,
        "{bad}"
    );
}
