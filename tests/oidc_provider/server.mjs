// The sign-in tests' identity provider: panva/oidc-provider, authorization code + PKCE.
// Its built-in login page signs in whoever types a login; that login is the user's e-mail
// and subject. Env: PORT, REDIRECT_URI, CLIENT_SECRET.
import Provider from "oidc-provider";

const issuer = `http://127.0.0.1:${process.env.PORT}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "meterway",
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: [process.env.REDIRECT_URI],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  pkce: { required: () => true },
  claims: { openid: ["sub"], email: ["email", "email_verified"] },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, email: id, email_verified: true }),
  }),
  // Consent is the provider's business, not the tests': grant what the client asks.
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(" ") : "openid");
    grant.addOIDCClaims(["email", "email_verified"]);
    await grant.save();
    return grant;
  },
});
provider.listen(Number(process.env.PORT), "127.0.0.1", () => console.log(`listening ${issuer}`));
