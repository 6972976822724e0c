Jets.bootstrap.configure do
  config.codebuild.project.env.vars = {
    DOCKER_HOST: "ssh://ubuntu@docker.myhost.com",
    JETS_SSH_KEY: "SSM:/#{ssm_env}/JETS_SSH_KEY",
    JETS_SSH_KNOWN: "SSM:/#{ssm_env}/JETS_SSH_KNOWN",
    DOCKER_USER: 'deploy"bot', # a comment, "quoted"
    # DOCKER_PASS: "SSM:/old",
    "DOCKER_PASS" => "SSM:/#{ssm_env}/DOCKER_PASS",
    :RAILS_MASTER_KEY => "SECRET:prod/rails:master_key",
    WEB_CONCURRENCY: 2,
    GREETING: "hello\tworld, {braces} and #hash",
    DATABASE_URL: ENV.fetch("DATABASE_URL"),
    APP_URL: "https://#{Jets.project_namespace}.example.com",
    BUNDLE_WITHOUT: %w[development test].join(":"),
    BAD_REF: "SSM:/has a space",
  }
  config.codebuild.project.env.vars[:EXTRA] = "extra-value" # set alone
  config.codebuild.project.env.vars["LATER"] = Jets.env
end
